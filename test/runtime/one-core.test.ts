// The defects the two runtime copies had drifted into, through the public API: both heads now
// share one core (admission, option checks, back-pressure), so each holds for both families.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/create-runtime.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';
import { directorySource, loadModel } from '../../src/formats/model-source.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeGpt2Files } from '../../src/model/synthetic.js';
import type { GenerateChunk, HmiRuntimeApi, RuntimeOptions, TenantSpec } from '../../src/runtime/api.js';
import { InvalidInputError, QueueFullError } from '../../src/runtime/errors.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { pickRemoteOptions } from '../../src/worker/protocol.js';
import { writeBertDir } from '../helpers/models.js';

const GPT = { nEmbd: 32, nLayer: 2, nHead: 2, nPositions: 64, vocabSize: 300, seed: 11 };

let gpu: GPU;
let gptDir: string;
let bertDir: string;
let gptConfig: Gpt2Config;

beforeAll(async () => {
  gpu = await nodeGpu();
  gptDir = await mkdtemp(join(tmpdir(), 'hmi-core-gpt-'));
  for (const [name, content] of Object.entries(makeGpt2Files(GPT))) await writeFile(join(gptDir, name), content);
  gptConfig = (await loadModel(directorySource(gptDir))).config as Gpt2Config;
  bertDir = await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 32 });
});

const gptTenant = (i: number, seed = 3): TenantSpec => syntheticTenant(gptConfig, 1, i, { count: 4, seed, ranks: [2, 4] });

async function drain(stream: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

/** Resolves after a real timer: fails (by timing out) if the event loop is spinning. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('one runtime core for both task heads', () => {
  let rt: HmiRuntimeApi | undefined;
  afterAll(async () => {
    await rt?.dispose();
  });

  it('hGPT: re-registering a tenant while it generates does not hang its next request; timers keep running', async () => {
    rt = await createRuntime({ gpu, model: gptDir, store: new MemoryTenantStore(), autotune: false });
    const spec = gptTenant(0);
    await rt.tenants.add(spec);
    const prompt = [5, 17, 42];
    // The first request is in the decode loop, its adapter pinned, when the adapter is replaced.
    const running = rt.generate(spec.id, prompt, { maxTokens: 12 })[Symbol.asyncIterator]();
    const head = await running.next();
    expect(head.done).toBe(false);
    await rt.tenants.add({ ...gptTenant(0, 99), id: spec.id });
    let timers = 0;
    const clock = setInterval(() => timers++, 5);
    try {
      const again = drain(rt.generate(spec.id, prompt, { maxTokens: 4 }));
      await tick();
      const rest: GenerateChunk[] = [];
      for (let r = await running.next(); !r.done; r = await running.next()) rest.push(r.value);
      const a = [head.value as GenerateChunk, ...rest];
      const b = await again;
      expect(a[a.length - 1].done).toBe(true);
      expect(b.filter((c) => c.tokenId >= 0)).toHaveLength(4);
      expect(timers).toBeGreaterThan(0);
    } finally {
      clearInterval(clock);
    }
    await rt.dispose();
    rt = undefined;
  });

  it('hGPT: generate() honours maxQueue with QueueFullError, and the admitted requests finish', async () => {
    rt = await createRuntime({ gpu, model: gptDir, store: new MemoryTenantStore(), autotune: false, maxQueue: 4, maxActive: 2 });
    const specs = [0, 1, 2, 3].map((i) => gptTenant(i));
    await rt.tenants.add(specs);
    const runtime = rt;
    const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => drain(runtime.generate(specs[i % 4].id, [1 + i, 2, 3], { maxTokens: 3 }))));
    const full = settled.filter((s) => s.status === 'rejected' && s.reason instanceof QueueFullError);
    const done = settled.filter((s) => s.status === 'fulfilled');
    expect(full.length).toBeGreaterThan(0);
    expect(done.length).toBeGreaterThan(0);
    expect(full.length + done.length).toBe(40);
    const m = await rt.metrics();
    expect(m.requestsRejected).toBe(full.length);
    expect(m.queueDepth).toBe(0);
    await rt.dispose();
    rt = undefined;
  });

  it.each([
    ['hBERT', () => bertDir],
    ['hGPT', () => gptDir],
  ])('%s: split out of range or fractional is an InvalidInputError', async (_family, model) => {
    for (const split of [99, 1.5, -1]) {
      await expect(createRuntime({ gpu, model: model(), store: new MemoryTenantStore(), autotune: false, split })).rejects.toBeInstanceOf(InvalidInputError);
    }
  });

  it('every RuntimeOptions field that can cross to a worker does, without a hand-kept list', () => {
    const options: Required<Omit<RuntimeOptions, 'gpu' | 'store' | 'plotStore' | 'onProgress' | 'worker'>> = {
      model: 'm',
      poolBytes: 1,
      split: 1,
      storeWaitMs: 5,
      storeName: 's',
      maxQueue: 2,
      tokenBudget: 3,
      maxWaitMs: 4,
      adapterDtype: 'f16',
      plotPolicy: 'inherit',
      plotSource: 'p',
      plotCacheSlots: 6,
      autotune: false,
      weightsDtype: 'f16',
      maxBufferBytes: 1 << 20,
      kvBytes: 7,
      kvBlockTokens: 8,
      maxActive: 9,
    };
    expect(pickRemoteOptions({ ...options, worker: true, onProgress: () => undefined, store: new MemoryTenantStore() })).toEqual(options);
  });
});
