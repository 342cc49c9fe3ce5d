/**
 * The reference's own safetensors reader (independent of the engine's): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian bytes.
 * F32, F16, BF16 and F64 are widened to float64. A folder holds `model.safetensors`, or shards
 * listed by `model.safetensors.index.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor64 } from './tensor.ts';

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const bf16 = new Float32Array(1);
const bf16Bits = new Uint32Array(bf16.buffer);

function decode(dtype: string, bytes: Buffer, where: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = { F64: 8, F32: 4, F16: 2, BF16: 2 }[dtype];
  if (!width) throw new Error(`${where}: dtype ${dtype} is not read by the reference (F32, F16, BF16, F64)`);
  const out = new Float64Array(bytes.length / width);
  for (let i = 0; i < out.length; i++) {
    const o = i * width;
    if (dtype === 'F64') out[i] = view.getFloat64(o, true);
    else if (dtype === 'F32') out[i] = view.getFloat32(o, true);
    else if (dtype === 'F16') out[i] = halfToNumber(view.getUint16(o, true));
    else {
      bf16Bits[0] = view.getUint16(o, true) << 16; // BF16 is the top half of a float32
      out[i] = bf16[0];
    }
  }
  return out;
}

export interface StoredTensor extends Tensor64 {
  /** the dtype in the file */
  dtype: string;
}

/** Every tensor of one file, by its name in the file. */
export function readSafetensors(path: string): Map<string, StoredTensor> {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const start = 8 + headerLen;
  const out = new Map<string, StoredTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = e.data_offsets;
    const data = decode(e.dtype, buf.subarray(start + a, start + b), `${path}: ${name}`);
    if (data.length !== e.shape.reduce((x, y) => x * y, 1)) throw new Error(`${path}: ${name} has ${data.length} values for shape [${e.shape}]`);
    out.set(name, { data, shape: e.shape, dtype: e.dtype });
  }
  return out;
}

/** Every tensor of a model folder, single-file or sharded. */
export function readCheckpoint(dir: string): Map<string, StoredTensor> {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  let files: string[];
  if (existsSync(single)) files = [single];
  else if (existsSync(index)) {
    const map = JSON.parse(readFileSync(index, 'utf8')).weight_map as Record<string, string>;
    files = [...new Set(Object.values(map))].sort().map((f) => join(dir, f));
  } else throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const tensors = new Map<string, StoredTensor>();
  for (const f of files) for (const [name, t] of readSafetensors(f)) tensors.set(name, t);
  return tensors;
}
