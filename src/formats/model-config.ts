/** Model hyper-parameters normalized from HF config.json, for the two supported families. */
export interface BertConfig {
  readonly family: 'bert';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  /** From id2label / num_labels when the checkpoint has a classifier. */
  readonly numLabels?: number;
  readonly labels?: readonly string[];
}

export interface Gpt2Config {
  readonly family: 'gpt2';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** n_inner, or 4 * hiddenSize when null. */
  readonly intermediateSize: number;
  readonly maxPositions: number;
  readonly layerNormEps: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

export type ModelConfig = BertConfig | Gpt2Config;

/** Layers 0..split-1 are "lower" (served from PLOT), split..numLayers-1 "upper". */
export function checkSplit(config: ModelConfig, split: number): number {
  if (!Number.isInteger(split) || split < 0 || split > config.numLayers) {
    throw new RangeError(`split layer ${split} must be an integer in 0..${config.numLayers}`);
  }
  return split;
}
