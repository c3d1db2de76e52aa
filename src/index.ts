// Public entry of hmi-webgpu. No side effects: importing it registers nothing.

// The runtime: create it, register tenants, classify/embed, metrics.
export { createRuntime } from './create-runtime.js';
export { HmiRuntime, createLocalRuntime } from './runtime/runtime.js';
export { createCompletions } from './runtime/completions.js';
export { KvTooLargeError, KvPoolError } from './model/kv/errors.js';
export type * from './runtime/api.js';
export { syntheticTenant, syntheticDomainAdapter } from './runtime/synthetic-tenants.js';
export {
  loadBundle,
  readBundleIndex,
  parseBundleIndex,
  bundlePlotSource,
  bundleModelFor,
  BundleFormatError,
  BundleModelMismatchError,
  type BundleIndex,
  type BundleModel,
  type BundleDomain,
  type BundleTenant,
  type LoadBundleOptions,
  type LoadedBundle,
} from './runtime/bundle.js';
export * from './runtime/errors.js';
export * from './errors.js';
export { TrainingShapeError } from './training/errors.js';

// The same API from a module Worker (createRuntime({ worker: true }) uses it).
export { createWorkerRuntime, WorkerRuntime, type WorkerRuntimeOptions } from './worker/client.js';
export { WorkerCrashedError, RemoteHmiError } from './worker/errors.js';
export { registerRemoteErrorClass } from './worker/protocol.js';

// GPU device and kernels' infrastructure.
export { createGpuContext, GpuContext, REQUIRED_LIMITS, type GpuContextOptions, type GpuFeatures } from './gpu/device.js';
export { autotuneMatmul, matmulChoices, loadMatmulChoices } from './kernels/matmul-autotune.js';
export { encodeMatmul, type MatmulArgs, type MatmulVariant } from './kernels/matmul.js';

// Formats: the checkpoints users already have.
export type { HostTensor, TensorMap, LoraAdapter, LoraModule } from './formats/types.js';
export * from './formats/errors.js';
export { loadModel, loadAdapter, directorySource, urlSource, type ModelSource, type LoadedModel } from './formats/model-source.js';
export { preloadModel, deleteCachedModel, type UrlSourceOptions, type PreloadOptions, type PreloadResult } from './formats/model-source.js';
export { cacheStorageModelCache, directoryModelCache, defaultModelCache, MODEL_CACHE_NAME, type ModelCache, type CachedFile } from './formats/model-cache.js';
export { parsePeftAdapter, writePeftAdapter } from './formats/peft.js';
export { parseTrainData, trainDataFormatOf, type TrainDataFormat, type TrainExample, type ParsedTrainData } from './formats/train-data.js';
export { parseSafetensors, writeSafetensors } from './formats/safetensors.js';
export { loadTokenizer, type HmiTokenizer } from './formats/tokenizer.js';
export { wordPieceTokenizerFromVocab, byteLevelBpeTokenizerFromFiles, idsOnlyTokenizer } from './formats/tokenizer.js';

// General knowledge and the models.
export type { ModelConfig, BertConfig, Gpt2Config } from './formats/model-config.js';
export { BaseWeights } from './knowledge/general/base-weights.js';
export { BertModel, type BertOutputs, type BertHostOutputs, type BertRunOptions } from './model/bert.js';
export { Gpt2Model, type Gpt2Outputs, type Gpt2RunOptions } from './model/gpt2.js';
export { SingleAdapterLora } from './model/single-lora.js';
export { packBatch, type PackedBatch, type SequenceInput } from './model/batch.js';
export * from './model/errors.js';
export type { LoraApplier } from './model/lora-hook.js';

// Task knowledge.
export * from './knowledge/task/errors.js';
export { AdapterPool } from './knowledge/task/pool.js';
export { MultiTenantLora } from './knowledge/task/multi-lora.js';
export { IdbTenantStore } from './knowledge/task/store-idb.js';
export { MemoryTenantStore } from './knowledge/task/store-memory.js';
export type { TenantStore } from './knowledge/task/store.js';

// Domain knowledge.
export { DomainTree } from './knowledge/domain/domain-tree.js';
export { DomainKnowledge } from './knowledge/domain/domain-knowledge.js';
export { PlotAssembler } from './knowledge/domain/assembler.js';
export { PlotCache } from './knowledge/domain/plot-cache.js';
export { PlotStore } from './knowledge/domain/plot-store.js';
export { IdbChunkStore, MemoryChunkStore, chunkFileName, CHUNK_LISTING, type ChunkStore } from './knowledge/domain/chunk-store.js';
export { UrlChunkStore } from './knowledge/domain/chunk-store-url.js';
export { LayeredChunkStore } from './knowledge/domain/chunk-store-layered.js';
export { buildPlot } from './knowledge/domain/builder.js';
export * from './knowledge/domain/errors.js';
