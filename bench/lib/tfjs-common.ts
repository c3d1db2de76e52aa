/**
 * What the tfjs baselines (tfjs-bert.ts, tfjs-gpt2.ts) share: host tensors checked by size,
 * dense layers and tenants' LoRA as tf tensors, LayerNorm, and a projection with its LoRA, so
 * both models compute LoRA exactly as the runtime defines it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';

/** Added to the attention scores of masked keys: exp() of it underflows to exactly 0 in f32. */
export const MASKED = -1e9;

export interface Dense {
  /** [in, out]. */
  readonly w: tf.Tensor2D;
  readonly b: tf.Tensor1D;
}

export interface Lora {
  /** A^T [in, r]. */
  readonly at: tf.Tensor2D;
  /** scale * B^T [r, out]. */
  readonly bt: tf.Tensor2D;
}

/** A checkpoint tensor's values, checked to hold `size` floats; `model` names the baseline in errors. */
export function hostTensor(model: string, weights: TensorMap, name: string, size: number): Float32Array {
  const t = weights.get(name);
  if (!t) throw new Error(`${model}: missing tensor ${name}`);
  if (t.data.length !== size) throw new Error(`${model}: ${name} has ${t.data.length} values, expected ${size}`);
  return t.data;
}

/** A tenant's LoRA modules with the scale folded into B^T; every module must be one of `projections`. */
export function uploadLora(model: string, adapter: LoraAdapter, projections: { has(path: string): boolean }): Map<string, Lora> {
  const lora = new Map<string, Lora>();
  try {
    for (const [path, m] of adapter.modules) {
      if (!projections.has(path)) throw new Error(`${model}: LoRA module ${path} targets no projection`);
      const [at, bt] = tf.tidy(() => [tf.transpose(tf.tensor2d(m.A, [m.r, m.inDim])), tf.mul(tf.transpose(tf.tensor2d(m.B, [m.outDim, m.r])), m.scale)]);
      lora.set(path, { at: at as tf.Tensor2D, bt: bt as tf.Tensor2D });
    }
  } catch (e) {
    disposeLora(lora);
    throw e;
  }
  return lora;
}

export function disposeLora(lora: ReadonlyMap<string, Lora>): void {
  for (const l of lora.values()) tf.dispose([l.at, l.bt]);
}

/** LayerNorm over the last axis, biased variance (torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** x @ W + b, plus the tenant's x @ A^T @ (scale * B^T) when it adapts this projection. */
export function project(x: tf.Tensor2D, d: Dense, lora: Lora | undefined): tf.Tensor2D {
  // The fused matmul adds the bias in the same dispatch: tfjs's fastest dense layer.
  const y = tf.fused.matMul({ a: x, b: d.w, bias: d.b }) as tf.Tensor2D;
  return lora ? tf.add<tf.Tensor2D>(y, tf.matMul(tf.matMul(x, lora.at), lora.bt)) : y;
}
