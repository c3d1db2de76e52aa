/**
 * Every failure the runtime reports is a named subclass of HmiError, so callers can
 * branch on `instanceof` (or on `code` across the worker boundary, where classes are lost).
 */
export class HmiError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** navigator.gpu is missing, or no adapter/device could be had. */
export class WebGpuUnavailableError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WEBGPU_UNAVAILABLE', message, options);
  }
}

/** The adapter cannot give a limit the runtime needs. */
export class AdapterLimitError extends HmiError {
  constructor(
    readonly limit: string,
    readonly required: number,
    readonly available: number,
  ) {
    super('ADAPTER_LIMIT', `adapter limit ${limit} is ${available}, the runtime needs at least ${required}`);
  }
}

/** A GPU allocation failed (caught by an out-of-memory error scope). */
export class GpuOutOfMemoryError extends HmiError {
  constructor(readonly bytes: number, label: string) {
    super('GPU_OUT_OF_MEMORY', `GPU out of memory allocating ${bytes} bytes for ${label}`);
  }
}

/** WebGPU reported a validation error: a bug in a kernel binding, or a shader that failed to compile. */
export class GpuValidationError extends HmiError {
  constructor(message: string) {
    super('GPU_VALIDATION', message);
  }
}

/** The GPU device was lost (driver reset, destroy(), tab in background...). */
export class DeviceLostError extends HmiError {
  constructor(readonly reason: string, message: string) {
    super('DEVICE_LOST', `GPU device lost (${reason}): ${message}`);
  }
}

/** Shapes or sizes passed to a kernel or model do not fit together. */
export class ShapeError extends HmiError {
  constructor(message: string) {
    super('SHAPE', message);
  }
}

/** Empty text, too many tokens, or ids the model cannot take. */
export class InvalidInputError extends HmiError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}
