import type { PackedBatch } from '../model/batch.js';
import type { HiddenSource } from '../model/pass.js';

/** One GPU slice of an optimizer step: whole sequences, at most the graph's rows and sequences. */
export interface TrainSlice {
  readonly batch: PackedBatch;
  /** hBERT: each sequence's label index; hGPT: each row's next token, or CROSS_ENTROPY_IGNORE. */
  readonly targets: Uint32Array;
  /** Scales the loss gradient: 1 / (examples, or target tokens, of the whole step). */
  readonly lossScale: number;
}

/**
 * A model family's training graph over the trained layers: the frozen base with the tenant's
 * LoRA, saved activations, the loss and the backward pass into the LoRA (and head) gradients.
 * One slice is one command buffer; gradients accumulate across the slices of a step.
 */
export interface FamilyGraph {
  readonly maxRows: number;
  readonly maxSeqs: number;
  /** Bytes of the activations, gradients and scratch it holds. */
  readonly bytes: number;
  /**
   * One slice as submits to run in order: the first writes the state entering the first trained
   * layer (`input`: PLOT's combine, or a copy of the embeddings), then come each layer's forward
   * in two parts (attention, then FFN), the loss and, when `train`, each layer's backward in two
   * (FFN, then attention; gradients accumulate into the trainable's `grads`). Serving work may
   * run between them.
   */
  parts(slice: TrainSlice, input: HiddenSource, train: boolean): (() => void)[];
  /** The per-target losses of the last slice ([numSeqs] for hBERT, [rows] for hGPT; 0 where ignored). */
  readLoss(slice: TrainSlice): Promise<Float32Array>;
  /** The state the last slice entered the first trained layer with, [rows, H]. */
  readInput(slice: TrainSlice): Promise<Float32Array>;
  /** hBERT: the last slice's logits [numSeqs, numLabels]. */
  readLogits?(slice: TrainSlice): Promise<Float32Array>;
  destroy(): void;
}
