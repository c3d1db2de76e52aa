import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeGpu } from '../../src/gpu/node.js';
import { FsTenantStore } from '../../src/knowledge/task/store-fs.js';
import type { BenchEnv, ScratchStore } from './env.js';

/** Node on Dawn: adapters cold on disk in a temp directory (no fsync: the page cache is part of what a server sees). */
export function nodeEnv(root: string): BenchEnv {
  return {
    where: 'node',
    cpus: availableParallelism(),
    platform: `${platform()} ${release()}, Node ${process.version}, Dawn (webgpu package)`,
    gpu: nodeGpu,
    bertModel: join(root, 'public/models/hbert-mini'),
    gptModel: join(root, 'public/models/hgpt-mini'),
    async scratchStore(name: string): Promise<ScratchStore> {
      const dir = await mkdtemp(join(tmpdir(), `hmi-bench-${name}-`));
      return {
        store: new FsTenantStore(dir, { fsync: false }),
        kind: 'fs',
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
    log: (m) => console.log(`  ${m}`),
  };
}
