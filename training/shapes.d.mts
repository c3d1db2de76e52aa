// Types of training/shapes.mjs.
export const BERT_MAX_POSITIONS: number;
export const GPT_MAX_POSITIONS: number;
export const VOCAB_SIZE: number;
export const HIDDEN: number;
export const LAYERS: number;
export const HEADS: number;
export const INTERMEDIATE: number;
export const SPLIT: number;
export function truncateIds(ids: readonly number[], max: number, sep: number | undefined): number[];
