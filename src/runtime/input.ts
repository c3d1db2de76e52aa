import type { HmiTokenizer } from '../formats/tokenizer.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { ModelInput } from './api.js';
import { InvalidInputError } from './errors.js';

/** Ids a model of `vocabSize` tokens accepts, copied; `where` prefixes the message ("corpus line 3: "). */
export function checkIds(input: readonly unknown[], vocabSize: number, where = ''): number[] {
  // Spread first: forEach would skip the holes of a sparse array.
  const ids = [...input];
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize) {
      throw new InvalidInputError(`${where}token id ${String(id)} at position ${i} is outside the vocabulary 0..${vocabSize - 1}`);
    }
  });
  return ids as number[];
}

/**
 * Text or ids to ids the model accepts; every bad input is an InvalidInputError here, before
 * it can reach a batch. `what` names the input in messages ("input", "prompt"); a blank
 * text is refused unless `allowBlank` (a whitespace prompt is a fine start for generation).
 */
export function toTokenIds(input: ModelInput, tokenizer: HmiTokenizer, config: ModelConfig, what: string, allowBlank = false): number[] {
  let ids: number[];
  if (typeof input === 'string') {
    if (input.length === 0 || (!allowBlank && input.trim().length === 0)) throw new InvalidInputError(`the ${what} text is empty`);
    ids = tokenizer.encode(input);
  } else if (Array.isArray(input)) {
    ids = checkIds(input, config.vocabSize);
  } else {
    throw new InvalidInputError(`the ${what} must be a string or an array of token ids`);
  }
  if (ids.length === 0) throw new InvalidInputError(`the ${what} has no tokens`);
  if (ids.length > config.maxPositions) throw new InvalidInputError(`the ${what} has ${ids.length} tokens; the model takes at most ${config.maxPositions}`);
  return ids;
}

/**
 * Ids of a text past the model's positions cut to its first max-1 tokens and closed with [SEP]
 * (HF's truncation of one sequence; the plain first max tokens for a tokenizer without [SEP]);
 * every other check of toTokenIds stays.
 */
export function truncatedIds(input: ModelInput, tokenizer: HmiTokenizer, config: ModelConfig, what: string): number[] {
  const P = config.maxPositions;
  const ids = toTokenIds(input, tokenizer, { ...config, maxPositions: Number.POSITIVE_INFINITY }, what);
  if (ids.length <= P) return ids;
  const sep = tokenizer.tokenToId('[SEP]');
  return sep === undefined ? ids.slice(0, P) : [...ids.slice(0, P - 1), sep];
}
