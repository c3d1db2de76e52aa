import { HmiError } from '../errors.js';

// Weight and adapter mismatches reuse src/formats/errors.ts (MissingWeightError,
// WeightShapeError, AdapterMismatchError): the same failures, whether found at load or at upload.

/**
 * Bad model input, caught on the CPU before any GPU work: empty input, ids outside the
 * vocabulary, more tokens than the model has positions, token types or masks that do not fit.
 */
export class InputError extends HmiError {
  constructor(message: string) {
    super('INPUT', message);
  }
}

/** The KV cache cannot take what was asked (no free slot, a sequence past its capacity). */
export class KvCacheError extends HmiError {
  constructor(message: string) {
    super('KV_CACHE', message);
  }
}
