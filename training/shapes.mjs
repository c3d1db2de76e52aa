// Shapes of the trained models, shared by every step of the chain and by the accuracy benchmark.
// hbert-mini and hgpt-mini keep the shapes of the earlier synthetic defaults (H=128, 4 layers,
// 4 heads, FFN 512), so the benchmarks' ratios stay comparable; only the vocabularies grow.
export const BERT_MAX_POSITIONS = 128;
export const GPT_MAX_POSITIONS = 256;
export const VOCAB_SIZE = 8192;
export const HIDDEN = 128;
export const LAYERS = 4;
export const HEADS = 4;
export const INTERMEDIATE = 512;
/** The hPLM split: layers 0..SPLIT-1 are the lower layers a PLOT replaces (the runtime default L/2). */
export const SPLIT = 2;

/**
 * Fits encoded ids to `max` positions the way training and the benchmark do: keep the first
 * max-1 ids and close with [SEP] (`sep`; pass undefined for GPT, which keeps the first max).
 */
export function truncateIds(ids, max, sep) {
  if (ids.length <= max) return ids;
  return sep === undefined ? ids.slice(0, max) : [...ids.slice(0, max - 1), sep];
}
