import type { ProgressCallback } from '../util/progress.js';

/** Sizing and tuning of a model instance (BertModel, Gpt2Model). */
export interface ModelOptions {
  /** Tokens and sequences the workspace is allocated for up front (it grows if exceeded). */
  readonly maxTokens?: number;
  readonly maxSeqs?: number;
  /** Time the matmul variants on this model's shapes at creation (default true). */
  readonly autotune?: boolean;
  /**
   * A model that only ever runs its lower layers (PLOT windows): no LM-head logits workspace is
   * reserved up front (for GPT-2 small and 256 windows that would be 51 MB never written).
   */
  readonly lowerOnly?: boolean;
  /** The autotune's progress (phase 'autotune'): it is most of a large model's load. */
  readonly onProgress?: ProgressCallback;
}
