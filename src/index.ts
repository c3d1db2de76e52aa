// Public entry of hmi-webgpu. No side effects: importing it registers nothing.
export * from './errors.js';
export { createGpuContext, GpuContext, REQUIRED_LIMITS, type GpuContextOptions, type GpuFeatures } from './gpu/device.js';
export type { HostTensor, TensorMap, LoraAdapter, LoraModule } from './formats/types.js';
export type { ModelConfig, BertConfig, Gpt2Config } from './model/config.js';
