/**
 * The seam between the shared base model and task knowledge. The model calls `apply` right
 * after each adapted projection (base matmul + bias, before any activation), for all rows of
 * the batch at once; the implementation adds every row's tenant LoRA delta into y.
 *
 * - SingleAdapterLora (src/model/single-lora.ts): one adapter for all rows, two matmuls.
 * - The multi-tenant applier (src/knowledge/task/): segmented shrink/expand over the GPU
 *   adapter pool's page table, one dispatch per projection whatever the number of tenants.
 */
export interface LoraApplier {
  /**
   * @param module canonical module path without prefix, e.g. "encoder.layer.7.attention.self.query",
   *   "encoder.layer.7.intermediate.dense", "h.3.attn.c_attn", "h.3.mlp.c_proj"
   * @param x the projection's input, [rows, inDim]
   * @param y the projection's output, [rows, outDim]; the delta is added in place
   */
  apply(pass: GPUComputePassEncoder, module: string, x: GPUBuffer, y: GPUBuffer, rows: number, inDim: number, outDim: number): void;
  /** Sizes scratch for a batch of `rows` before it is encoded (allocation is async, encoding is not). */
  prepare?(rows: number): Promise<void>;
}

/** The projections LoRA may target, per family, as PEFT's target_modules name them. */
export const LORA_TARGETS = {
  bert: ['query', 'key', 'value', 'attention.output.dense', 'intermediate.dense', 'output.dense'],
  gpt2: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'],
} as const;
