/** Errors of the model-format readers (safetensors, HF config, PEFT, tokenizer, model sources). */
import { HmiError } from '../errors.js';

/** A safetensors file is malformed or uses something this runtime cannot read. */
export class SafetensorsError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SAFETENSORS', message, options);
  }
}

/** config.json describes a model this runtime cannot run, or is malformed. */
export class ConfigError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** A weight the model needs is missing from the checkpoint. */
export class MissingWeightError extends HmiError {
  constructor(readonly tensor: string, message?: string) {
    super('MISSING_WEIGHT', message ?? `checkpoint has no tensor "${tensor}"`);
  }
}

/** A weight has a shape that does not fit the model config. */
export class WeightShapeError extends HmiError {
  constructor(
    readonly tensor: string,
    readonly expected: readonly number[],
    readonly got: readonly number[],
  ) {
    super('WEIGHT_SHAPE', `tensor "${tensor}" has shape [${got.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

/** An adapter's files are malformed (bad adapter_config.json, missing A or B, NaN...). */
export class AdapterFormatError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADAPTER_FORMAT', message, options);
  }
}

/** An adapter is well formed but does not fit the base model (other model, other sizes). */
export class AdapterMismatchError extends HmiError {
  constructor(
    readonly module: string,
    reason: string,
  ) {
    super('ADAPTER_MISMATCH', `adapter module "${module}" does not fit the base model: ${reason}`);
  }
}

/** tokenizer.json cannot be loaded, or encoding/decoding failed. */
export class TokenizerError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOKENIZER', message, options);
  }
}

/** A model or adapter file could not be read from its source (missing file, HTTP error, bad JSON). */
export class ModelLoadError extends HmiError {
  constructor(
    readonly file: string,
    readonly location: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('MODEL_LOAD', `cannot load ${file} from ${location}: ${reason}`, options);
  }
}

/**
 * A download broke off or ended short of its Content-Length. Nothing of it was cached; trying
 * again downloads the file anew.
 */
export class DownloadInterruptedError extends ModelLoadError {
  constructor(
    file: string,
    url: string,
    readonly receivedBytes: number,
    readonly expectedBytes: number | undefined,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause;
    super(
      file,
      url,
      `download interrupted after ${receivedBytes}${expectedBytes !== undefined ? ` of ${expectedBytes}` : ''} bytes${cause !== undefined ? `: ${cause instanceof Error ? cause.message : String(cause)}` : ''}`,
      options,
    );
  }
}

/**
 * Training data (JSONL, a JSON array or CSV) cannot be read as a tenant's examples. `line` is the
 * 1-based line of the input where the bad record starts (undefined when the whole input is at
 * fault, e.g. it holds no example); the message names it (and the file, when `source` is given)
 * and says what is wrong.
 */
export class TrainDataError extends HmiError {
  constructor(
    readonly reason: string,
    readonly line?: number,
    readonly source?: string,
  ) {
    const where = [source, line === undefined ? undefined : `line ${line}`].filter((x) => x !== undefined).join(', ');
    super('BAD_TRAIN_DATA', where ? `${where}: ${reason}` : reason);
  }
}
