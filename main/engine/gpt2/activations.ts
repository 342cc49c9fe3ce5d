/**
 * The MLP nonlinearities that GPT-2 configs name in `activation_function`, each with the derivative
 * the hand-written backward pass multiplies by. Definitions follow transformers' ACT2FN exactly
 * (gelu_fast's rounded constant included); names that transformers defines identically share one.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Activation {
  /** f(x), elementwise */
  f(x: tf.Tensor): tf.Tensor;
  /** f′(x), elementwise */
  grad(x: tf.Tensor): tf.Tensor;
}

/**
 * x·σ(2u) with u = c(x + 0.044715x³), which equals ½x(1 + tanh u): the tanh-approximated GELU.
 * Sigmoid is far cheaper than tanh on wasm, and x³ is x·x² (pow is slow there).
 */
function tanhGelu(c: number): Activation {
  const sig = (x: tf.Tensor) => tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), 0.044715 * 2 * c), 2 * c)));
  return {
    f: (x) => tf.mul(x, sig(x)),
    // σ(2u) + x·σ(1 − σ)·2c(1 + 3·0.044715·x²)
    grad: (x) => {
      const s = sig(x);
      const du = tf.add(tf.mul(tf.square(x), 3 * 0.044715 * 2 * c), 2 * c);
      return tf.add(s, tf.mul(tf.mul(x, tf.mul(s, tf.sub(1, s))), du));
    },
  };
}

/** x·σ(a·x): SiLU for a = 1, quick_gelu for a = 1.702. Derivative σ + a·x·σ(1 − σ). */
function sigmoidGated(a: number): Activation {
  return {
    f: (x) => tf.mul(x, tf.sigmoid(a === 1 ? x : tf.mul(x, a))),
    grad: (x) => {
      const s = tf.sigmoid(a === 1 ? x : tf.mul(x, a));
      return tf.add(s, tf.mul(tf.mul(x, a), tf.mul(s, tf.sub(1, s))));
    },
  };
}

const ERF_GELU: Activation = {
  // ½x(1 + erf(x/√2)) = x·Φ(x); derivative Φ(x) + x·φ(x)
  f: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
  grad: (x) =>
    tf.add(
      tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5),
      tf.mul(x, tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI))),
    ),
};

const RELU: Activation = {
  f: (x) => tf.relu(x),
  grad: (x) => tf.step(x), // 1 where x > 0, else 0 (PyTorch's choice at 0)
};

const GELU_TANH = tanhGelu(Math.sqrt(2 / Math.PI));
const SILU = sigmoidGated(1);

/** config.json's activation_function → its implementation. */
export const ACTIVATIONS = {
  gelu: ERF_GELU,
  gelu_new: GELU_TANH,
  gelu_pytorch_tanh: GELU_TANH,
  gelu_fast: tanhGelu(0.7978845608),
  quick_gelu: sigmoidGated(1.702),
  relu: RELU,
  silu: SILU,
  swish: SILU,
} satisfies Record<string, Activation>;

export type ActivationName = keyof typeof ACTIVATIONS;
