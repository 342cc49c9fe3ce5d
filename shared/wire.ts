/**
 * The binary frame format of the browser host's WebSocket. Electron's IPC keeps typed arrays
 * through structured clone; JSON would turn a Float32Array of 50,000 attributions into a 50,000-key
 * object and NaN into null. So a frame is a JSON header in which each typed array is replaced by a
 * reference {$typed, $at, $len} into a data area that follows it:
 *
 *   [u32 header byte length, little endian][header JSON, UTF-8][padding to 8][data area]
 *
 * `$at` is the byte offset within the data area (8-aligned, so any element type can be viewed).
 * Non-finite numbers outside typed arrays (NaN, ±Infinity) travel as {"$num": "NaN"}.
 */

const CTORS = { Float32Array, Float64Array, Int32Array, Uint8Array, Uint32Array } as const;
type CtorName = keyof typeof CTORS;
type Typed = InstanceType<(typeof CTORS)[CtorName]>;

const align8 = (n: number) => (n + 7) & ~7;

export function encodeFrame(value: unknown): Uint8Array {
  const sections: { bytes: Uint8Array; at: number }[] = [];
  let dataSize = 0;
  // JSON.stringify hands the replacer typed arrays before converting them, so they arrive intact.
  const header = JSON.stringify(value, (_key, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name;
      if (!Object.hasOwn(CTORS, name)) throw new Error(`cannot send a ${name} over the wire`);
      const t = v as Typed;
      sections.push({ bytes: new Uint8Array(t.buffer, t.byteOffset, t.byteLength), at: dataSize });
      const ref = { $typed: name, $at: dataSize, $len: t.length };
      dataSize = align8(dataSize + t.byteLength);
      return ref;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
    return v;
  });
  const head = new TextEncoder().encode(header ?? 'null');
  const dataStart = align8(4 + head.length);
  const out = new Uint8Array(dataStart + dataSize);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  for (const sct of sections) out.set(sct.bytes, dataStart + sct.at);
  return out;
}

export function decodeFrame(frame: ArrayBuffer | Uint8Array): unknown {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.length < 4) throw new Error('frame too short');
  const headLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + headLen > bytes.length) throw new Error('frame header length exceeds the frame');
  const header = new TextDecoder().decode(bytes.subarray(4, 4 + headLen));
  const dataStart = align8(4 + headLen);
  return JSON.parse(header, (_key, v: unknown) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    if (typeof o.$num === 'string' && Object.keys(o).length === 1) return Number(o.$num);
    if (typeof o.$typed === 'string' && typeof o.$at === 'number' && typeof o.$len === 'number') {
      if (!Object.hasOwn(CTORS, o.$typed)) throw new Error(`unknown typed array ${o.$typed}`);
      const Ctor = CTORS[o.$typed as CtorName];
      const start = dataStart + o.$at;
      const end = start + o.$len * Ctor.BYTES_PER_ELEMENT;
      if (!Number.isInteger(o.$len) || o.$len < 0 || end > bytes.length) throw new Error('typed array section exceeds the frame');
      // Copied so the array owns its buffer and does not keep the whole frame alive.
      const copy = new Ctor(o.$len);
      new Uint8Array(copy.buffer).set(bytes.subarray(start, end));
      return copy;
    }
    return v;
  });
}
