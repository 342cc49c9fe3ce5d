/**
 * A tiny runtime schema language with static types. The IPC contract is written once in these
 * schemas; TypeScript infers the request/response types from them and the main side validates
 * every request against them, because the main side must not trust the renderer. It has no
 * dependencies, so the preload, the renderer, the main process and the worker can all share it.
 */

export interface Schema<T> {
  /** Returns the value if it matches; otherwise throws SchemaError naming the path and what was wrong. */
  parse(value: unknown, path?: string): T;
  /** A short description for error messages ("a string", "one of 'a', 'b'"). */
  readonly describe: string;
  /** Phantom field carrying the static type. */
  readonly _type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

function typeOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (typeof x === 'number' && Number.isNaN(x)) return 'NaN';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x)}`;
  if (typeof x === 'object') return 'an object';
  return `${typeof x} ${String(x)}`;
}

function fail(path: string, expected: string, got: unknown): never {
  throw new SchemaError(`${path || 'the value'} must be ${expected}, but is ${typeOf(got)}`);
}

function make<T>(describe: string, parse: (v: unknown, path: string) => T): Schema<T> {
  return { describe, parse: (v, path = '') => parse(v, path) };
}

export const s = {
  string(o: { min?: number; max?: number } = {}): Schema<string> {
    const d = o.min ? 'a non-empty string' : 'a string';
    return make(d, (v, p) => {
      if (typeof v !== 'string') fail(p, d, v);
      if (o.min !== undefined && v.length < o.min) fail(p, d, v);
      if (o.max !== undefined && v.length > o.max) throw new SchemaError(`${p || 'the value'} is longer than ${o.max} characters`);
      return v;
    });
  },

  number(o: { int?: boolean; min?: number; max?: number } = {}): Schema<number> {
    const range = o.min !== undefined && o.max !== undefined ? ` from ${o.min} to ${o.max}` : o.min !== undefined ? ` ≥ ${o.min}` : '';
    const d = `${o.int ? 'an integer' : 'a finite number'}${range}`;
    return make(d, (v, p) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(p, d, v);
      if (o.int && !Number.isInteger(v)) fail(p, d, v);
      if ((o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max)) fail(p, d, v);
      return v;
    });
  },

  /** A number that may also be NaN or ±Infinity (engine results, never requests). */
  anyNumber(): Schema<number> {
    return make('a number', (v, p) => (typeof v === 'number' ? v : fail(p, 'a number', v)));
  },

  boolean(): Schema<boolean> {
    return make('true or false', (v, p) => (typeof v === 'boolean' ? v : fail(p, 'true or false', v)));
  },

  literal<const L extends string | number | boolean | null>(lit: L): Schema<L> {
    const d = JSON.stringify(lit);
    return make(d, (v, p) => (v === lit ? (v as L) : fail(p, d, v)));
  },

  enum<const E extends readonly string[]>(values: E): Schema<E[number]> {
    const d = `one of ${values.map((x) => `'${x}'`).join(', ')}`;
    return make(d, (v, p) => (typeof v === 'string' && values.includes(v) ? (v as E[number]) : fail(p, d, v)));
  },

  array<T>(item: Schema<T>, o: { min?: number; max?: number } = {}): Schema<T[]> {
    const d = `an array of ${item.describe}`;
    return make(d, (v, p) => {
      if (!Array.isArray(v)) fail(p, d, v);
      if (o.min !== undefined && v.length < o.min) throw new SchemaError(`${p || 'the list'} needs at least ${o.min} item${o.min === 1 ? '' : 's'}`);
      if (o.max !== undefined && v.length > o.max) throw new SchemaError(`${p || 'the list'} has ${v.length} items; at most ${o.max} are allowed`);
      return v.map((x, i) => item.parse(x, `${p}[${i}]`));
    });
  },

  float32(): Schema<Float32Array> {
    return make('a Float32Array', (v, p) => (v instanceof Float32Array ? v : fail(p, 'a Float32Array', v)));
  },

  optional<T>(inner: Schema<T>): Schema<T | undefined> & { optional: true } {
    return { ...make(`${inner.describe} (optional)`, (v, p) => (v === undefined ? undefined : inner.parse(v, p))), optional: true };
  },

  nullable<T>(inner: Schema<T>): Schema<T | null> {
    return make(`${inner.describe} or null`, (v, p) => (v === null ? null : inner.parse(v, p)));
  },

  /**
   * A plain object with exactly these fields: unknown fields are an error too, so a typo in a
   * request is reported instead of silently ignored.
   */
  object<F extends Record<string, Schema<unknown>>>(fields: F): Schema<ObjectOf<F>> {
    const d = 'an object';
    return make(d, (v, p) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail(p, d, v);
      const src = v as Record<string, unknown>;
      for (const k of Object.keys(src)) {
        if (!Object.hasOwn(fields, k)) throw new SchemaError(`${p ? p + '.' : ''}${k} is not a known field (known: ${Object.keys(fields).join(', ') || 'none'})`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(fields)) {
        const x = f.parse(src[k], p ? `${p}.${k}` : k);
        if (x !== undefined) out[k] = x;
      }
      return out as ObjectOf<F>;
    });
  },

  /**
   * Free-form JSON: a plain object whose contents are only checked to be JSON (no functions, no
   * typed arrays, no cycles) and at most `maxBytes` long as text. For view state.
   */
  jsonObject(o: { maxBytes?: number } = {}): Schema<Record<string, unknown>> {
    const d = 'a JSON object';
    const max = o.maxBytes ?? 1_000_000;
    return make(d, (v, p) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail(p, d, v);
      let text: string;
      try {
        text = JSON.stringify(v);
      } catch {
        throw new SchemaError(`${p || 'value'} is not plain JSON`);
      }
      if (text.length > max) throw new SchemaError(`${p || 'value'} is larger than ${max} bytes as JSON`);
      return JSON.parse(text) as Record<string, unknown>;
    });
  },

  /** A discriminated union tried in order; the error names the discriminating field. */
  union<const M extends readonly Schema<unknown>[]>(members: M): Schema<Infer<M[number]>> {
    const d = members.map((m) => m.describe).join(' or ');
    return make(d, (v, p) => {
      const errors: string[] = [];
      for (const m of members) {
        try {
          return m.parse(v, p) as Infer<M[number]>;
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      throw new SchemaError(errors[0] ?? `${p} matches none of ${d}`);
    });
  },

  /** Nothing: for requests without parameters (`undefined` or `{}`) and events without payload. */
  none(): Schema<void> {
    return make('nothing', (v, p) => {
      if (v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0)) return undefined;
      return fail(p, 'empty', v);
    });
  },
};

type OptionalKeys<F> = { [K in keyof F]: F[K] extends { optional: true } ? K : never }[keyof F];
type RequiredKeys<F> = Exclude<keyof F, OptionalKeys<F>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<F extends Record<string, Schema<unknown>>> = Simplify<
  { [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }
>;
