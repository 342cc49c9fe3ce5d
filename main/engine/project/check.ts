/** Reading untyped JSON field by field, with errors that name the field: `settings.kinds[2] must be …`. */

export type Fail = (message: string) => never;

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 40 ? s.slice(0, 37) + '…' : s;
};

export class Fields {
  /** what is odd but readable (unknown keys), for the caller to show */
  readonly warnings: string[] = [];

  constructor(readonly fail: Fail) {}

  /** Warns of keys of `o` not in `keys`: misspelled or from a newer app, they are ignored. */
  known(o: Record<string, unknown>, at: string, keys: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) this.warnings.push(`unknown key ${at ? `${at}.` : ''}${k} is ignored (misspelled, or written by a newer Patchbench?)`);
    }
  }

  obj(v: unknown, at: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${at} must be an object, got ${show(v)}`);
    return v as Record<string, unknown>;
  }

  /** A required field: `missing field at.key` when absent. */
  get(o: Record<string, unknown>, at: string, key: string): unknown {
    if (!Object.hasOwn(o, key) || o[key] === undefined) this.fail(`missing field ${at ? `${at}.` : ''}${key}`);
    return o[key];
  }

  /** An optional field: undefined when absent. */
  opt(o: Record<string, unknown>, key: string): unknown {
    return Object.hasOwn(o, key) ? o[key] : undefined;
  }

  str(v: unknown, at: string, nonEmpty = false): string {
    if (typeof v !== 'string') this.fail(`${at} must be a string, got ${show(v)}`);
    if (nonEmpty && v.length === 0) this.fail(`${at} is empty`);
    return v;
  }

  strOrNull(v: unknown, at: string): string | null {
    return v === null ? null : this.str(v, at);
  }

  bool(v: unknown, at: string): boolean {
    if (typeof v !== 'boolean') this.fail(`${at} must be true or false, got ${show(v)}`);
    return v;
  }

  num(v: unknown, at: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${at} must be a number, got ${show(v)}`);
    return v;
  }

  numOrNull(v: unknown, at: string): number | null {
    return v === null ? null : this.num(v, at);
  }

  int(v: unknown, at: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`${at} must be an integer, got ${show(v)}`);
    if (v < min || v > max) this.fail(`${at} is ${v}, outside ${min}…${max}`);
    return v;
  }

  intOrNull(v: unknown, at: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | null {
    return v === null ? null : this.int(v, at, min, max);
  }

  arr(v: unknown, at: string, nonEmpty = false): unknown[] {
    if (!Array.isArray(v)) this.fail(`${at} must be an array, got ${show(v)}`);
    if (nonEmpty && v.length === 0) this.fail(`${at} is empty`);
    return v;
  }

  oneOf<T extends string>(v: unknown, at: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(`${at} must be one of ${allowed.join(', ')}; got ${show(v)}`);
    return v as T;
  }

  date(v: unknown, at: string): string {
    const s = this.str(v, at);
    if (!/^\d{4}-\d\d-\d\dT/.test(s) || Number.isNaN(Date.parse(s))) this.fail(`${at} must be an ISO 8601 date, got ${show(v)}`);
    return s;
  }
}
