// Node-only entry of hmi-webgpu (`hmi-webgpu/node`): Dawn's GPU and the disk-backed stores.
export { nodeGpu } from './gpu/node.js';
export { FsTenantStore } from './knowledge/task/store-fs.js';
export { DirChunkStore, type DirChunkStoreOptions } from './knowledge/domain/chunk-store.js';
