/** Host-side (CPU) tensors and adapters, as the format readers produce them. All f32. */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Tensors by HF name, with the model-class prefix ("bert.", "transformer.") removed. */
export type TensorMap = Map<string, HostTensor>;

/**
 * One LoRA'd projection. `A` is [r, inDim] and `B` is [outDim, r] (PEFT's layout, also for
 * GPT-2's Conv1D), so delta(x) = scale * (x @ A^T) @ B^T with scale = alpha / r.
 */
export interface LoraModule {
  readonly r: number;
  readonly inDim: number;
  readonly outDim: number;
  readonly scale: number;
  readonly A: Float32Array;
  readonly B: Float32Array;
}

/**
 * A tenant's task knowledge: LoRA modules keyed by the base module's path without prefix,
 * e.g. "encoder.layer.7.attention.self.query" (BERT) or "h.3.attn.c_attn" (GPT-2), plus the
 * task head tensors from `modules_to_save` (e.g. "classifier.weight", "classifier.bias").
 */
export interface LoraAdapter {
  readonly modules: ReadonlyMap<string, LoraModule>;
  readonly head: TensorMap;
  /** Labels of the classifier head, index -> name (from the adapter's config when present). */
  readonly labels?: readonly string[];
}
