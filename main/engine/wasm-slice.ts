/**
 * A Slice kernel for the wasm backend that reads its input in place. tfjs-wasm's own Slice first
 * copies the *whole* input out of the wasm heap into a fresh JavaScript array (`readSync`) and only
 * then copies the slice: taking 100 rows of a [157, 98304] matrix (circuits' upstream writes) cost
 * about half a second, where copying the rows themselves takes milliseconds.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type SliceArgs = { inputs: { x: tf.TensorInfo }; backend: unknown; attrs: { begin: number | number[]; size?: number | number[] } };

/** Copies x[begin … begin + size) (any rank) from `src` into `dst`, one innermost run at a time. */
function copyBox(src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, shape: number[], begin: number[], size: number[], dst: { set(a: ArrayLike<number>, o: number): void }) {
  const rank = shape.length;
  const strides = tf.util.computeStrides(shape);
  const inner = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  const rows = tf.util.sizeFromShape(size.slice(0, -1));
  for (let r = 0, out = 0; r < rows; r++, out += inner) {
    let off = begin[rank - 1];
    for (let a = 0; a < rank - 1; a++) off += (begin[a] + idx[a]) * strides[a];
    dst.set(src.subarray(off, off + inner), out);
    for (let a = rank - 2; a >= 0 && ++idx[a] === size[a]; a--) idx[a] = 0;
  }
}

let installed = false;

/** Replaces the wasm backend's Slice kernel (numeric dtypes; strings go to the original). */
export function installWasmSlice(backend: string): void {
  if (installed || backend !== 'wasm') return;
  const original = tf.getKernel('Slice', 'wasm');
  if (!original) return;
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({
    kernelName: 'Slice',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args as unknown as SliceArgs;
      const x = inputs.x;
      if (x.dtype === 'string' || x.shape.length === 0) return original.kernelFunc(args);
      const wasm = backend as WasmBackend;
      const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
      const out = wasm.makeOutput(size, x.dtype);
      if (tf.util.sizeFromShape(size) === 0) return out;
      // Views are taken after makeOutput, which may grow (and so replace) the heap's buffer.
      const src = wasm.typedArrayFromHeap(x);
      const dst = wasm.typedArrayFromHeap(out);
      if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
        const off = tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape));
        dst.set(src.subarray(off, off + dst.length));
      } else copyBox(src, x.shape, begin, size, dst);
      return out;
    },
  });
  installed = true;
}
