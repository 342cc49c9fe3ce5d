/**
 * A validating reader for the safetensors format (8-byte little-endian header length, a JSON header,
 * then raw little-endian tensor bytes). Tensors are read one at a time straight from the file and
 * upcast to float32, so loading never holds a second copy of the whole checkpoint in memory.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { badModel } from './errors.ts';
import { jsonProblem } from './json.ts';

/** The largest header read: real ones are kilobytes to a few megabytes (one entry per tensor). */
export const MAX_HEADER_BYTES = 100_000_000;

export type Dtype = 'F32' | 'F16' | 'BF16' | 'F64';
const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** absolute byte range in the file */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  entries: Map<string, TensorEntry>;
  /** Reads one tensor as float32 (upcasting F16/BF16/F64). */
  read(name: string): Float32Array;
  close(): void;
}

export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw badModel(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const entries = readHeader(fd, path);
    return {
      path,
      entries,
      read: (name) => readTensor(fd, path, entries, name),
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function readHeader(fd: number, path: string): Map<string, TensorEntry> {
  const st = fstatSync(fd);
  if (st.isDirectory()) throw badModel(`${path}: is a folder, not a safetensors file`);
  if (!st.isFile()) throw badModel(`${path}: is not a regular file (a device, pipe or socket), so it is not read as safetensors`);
  const size = st.size;
  if (size < 8) throw badModel(`${path}: file is ${size} bytes, too short to be safetensors`);
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen >= MAX_HEADER_BYTES) {
    throw badModel(`${path}: header length ${headerLen} is 100 MB or more; a real safetensors header is far smaller, so the file is corrupt or not safetensors`);
  }
  if (headerLen > size - 8) {
    throw badModel(`${path}: header length ${headerLen} runs past the end of the file (${size} bytes); the file is truncated or not safetensors`);
  }
  const headerBuf = Buffer.alloc(headerLen);
  readSync(fd, headerBuf, 0, headerLen, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (e) {
    throw badModel(`${path}: header is not valid JSON (${jsonProblem(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw badModel(`${path}: header is not a JSON object`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const entries = new Map<string, TensorEntry>();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const where = `${path}: tensor "${name}"`;
    const i = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof i !== 'object' || i === null) throw badModel(`${where}: entry is not an object`);
    if (typeof i.dtype !== 'string' || !(i.dtype in BYTES)) {
      throw badModel(`${where}: unsupported dtype ${JSON.stringify(i.dtype)} (supported: F32, F16, BF16, F64)`);
    }
    const dtype = i.dtype as Dtype;
    if (!Array.isArray(i.shape) || !i.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw badModel(`${where}: shape ${JSON.stringify(i.shape)} is not a list of non-negative integers`);
    }
    const off = i.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1]) {
      throw badModel(`${where}: data_offsets ${JSON.stringify(off)} is not a [begin, end] pair`);
    }
    if (off[1] > dataLen) {
      throw badModel(`${where}: data_offsets [${off[0]}, ${off[1]}] run past the end of the data (${dataLen} bytes); the file is truncated`);
    }
    const shape = i.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (off[1] - off[0] !== expected) {
      throw badModel(`${where}: shape [${shape}] of ${dtype} needs ${expected} bytes but data_offsets span ${off[1] - off[0]}`);
    }
    entries.set(name, { name, dtype, shape, begin: dataStart + off[0], end: dataStart + off[1] });
  }
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin);
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k].begin < sorted[k - 1].end) {
      throw badModel(`${path}: tensors "${sorted[k - 1].name}" and "${sorted[k].name}" overlap in the file`);
    }
  }
  return entries;
}

function readTensor(fd: number, path: string, entries: Map<string, TensorEntry>, name: string): Float32Array {
  const e = entries.get(name);
  if (!e) throw badModel(`${path}: no tensor named "${name}"`);
  const n = e.end - e.begin;
  const count = n / BYTES[e.dtype];
  if (e.dtype === 'F32') {
    const out = new Float32Array(count);
    readFully(fd, new Uint8Array(out.buffer), e.begin);
    return out;
  }
  const raw = new Uint8Array(n);
  readFully(fd, raw, e.begin);
  if (e.dtype === 'F64') return Float32Array.from(new Float64Array(raw.buffer));
  const half = new Uint16Array(raw.buffer);
  const out = new Float32Array(count);
  if (e.dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let k = 0; k < count; k++) bits[k] = half[k] << 16;
  } else {
    const table = f16Table();
    for (let k = 0; k < count; k++) out[k] = table[half[k]];
  }
  return out;
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const got = readSync(fd, into, done, into.length - done, position + done);
    if (got === 0) throw new Error('unexpected end of file');
    done += got;
  }
}

let F16: Float32Array | undefined;
/** float16 → float32 for all 65536 bit patterns (IEEE 754 binary16, with subnormals, inf and NaN). */
function f16Table(): Float32Array {
  if (F16) return F16;
  F16 = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    F16[h] =
      exp === 0 ? sign * 2 ** -14 * (frac / 1024)
      : exp === 31 ? (frac ? NaN : sign * Infinity)
      : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return F16;
}

/** Writes a safetensors file (used by tests and the demo-model trainer). Tensors are float32 or float16. */
export function encodeSafetensors(
  tensors: Record<string, { data: Float32Array; shape: number[]; dtype?: 'F32' | 'F16' | 'BF16' }>,
  metadata: Record<string, string> = { format: 'pt' },
): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const blobs: Buffer[] = [];
  let off = 0;
  for (const name of Object.keys(tensors).sort()) {
    const { data, shape, dtype = 'F32' } = tensors[name];
    const bytes =
      dtype === 'F16' ? Buffer.from(toF16(data).buffer) : dtype === 'BF16' ? Buffer.from(toBF16(data).buffer) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.length] };
    blobs.push(bytes);
    off += bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...blobs]);
}

/** float32 → bfloat16 bits: the top half, rounded to nearest even (NaN stays NaN). */
function toBF16(data: Float32Array): Uint16Array {
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let k = 0; k < data.length; k++) {
    const x = u[k];
    out[k] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** float32 → float16 bits, round to nearest even (normal range; tiny values flush through subnormals). */
function toF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let k = 0; k < data.length; k++) {
    f[0] = data[k];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    if (exp >= 31) out[k] = sign | 0x7c00 | (((x >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
    else if (exp <= 0) {
      if (exp < -10) out[k] = sign;
      else {
        mant |= 0x800000;
        const shift = 14 - exp;
        let half = mant >> shift;
        const rem = mant & ((1 << shift) - 1);
        const mid = 1 << (shift - 1);
        if (rem > mid || (rem === mid && half & 1)) half++;
        out[k] = sign | half;
      }
    } else {
      let half = (exp << 10) | (mant >> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
      out[k] = sign | half;
    }
  }
  return out;
}
