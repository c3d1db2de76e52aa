/**
 * Host-side (CPU) tensors and adapters, as the format readers produce them. Values read as
 * f32 through `data`; a tensor of an F16 checkpoint may instead be held as its halves
 * (`f16`, see f16HostTensor), so that it costs half the memory and reaches the GPU unchanged.
 */
export interface HostTensor {
  readonly shape: readonly number[];
  /**
   * The values as f32. For an f16-held tensor this is decoded on first access and then kept
   * (the CPU references and f32 consumers read it); code that only moves the tensor should
   * read `f16` instead, or the halving is lost.
   */
  readonly data: Float32Array;
  /** Set when the tensor is held as IEEE halves (one u16 of bits per element, row-major). */
  readonly f16?: Uint16Array;
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
