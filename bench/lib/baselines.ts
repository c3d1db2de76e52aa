/**
 * The alternatives a user would otherwise run, on the same kernels and the same device kind:
 * - sequential: one tenant at a time, its requests batched, its LoRA as two matmuls
 *   (SingleAdapterLora) and its own classifier head, through BertModel.forward;
 * - merged swap: one merged full model per tenant, uploaded whenever the tenant changes,
 *   requests in arrival order (what a single-model runtime forces).
 * Both get their adapters prepared before the clock starts (uploaded, resp. merged on the
 * CPU), which favours them: the batched runtime's timing includes its own paging.
 */
import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { readF32 } from '../../src/gpu/buffers.js';
import type { LoadedModel } from '../../src/formats/model-source.js';
import type { TensorMap } from '../../src/formats/types.js';
import { BaseWeights } from '../../src/knowledge/general/base-weights.js';
import { BertModel, type BertRunOptions } from '../../src/model/bert.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { SingleAdapterLora } from '../../src/model/single-lora.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import type { BenchContext } from './context.js';
import { now, timed } from './measure.js';
import { mergeAdapter } from './merge.js';
import { arrivalRuns, batchesOf, groupByTenant, type Request } from './workload.js';

/** Sequences per forward, as the runtime's model is created with. */
const MAX_SEQS = 64;

interface BaselineGpu {
  readonly ctx: GpuContext;
  readonly host: LoadedModel;
  readonly config: BertConfig;
  readonly model: BertModel;
  readonly base: BaseWeights;
}

function bertConfig(host: LoadedModel): BertConfig {
  if (host.config.family !== 'bert') throw new Error(`the classification baselines need an hBERT model, got ${host.config.family}`);
  return host.config;
}

/** A device of its own with the shared base model, as a single-tenant server would have. */
export function baselineGpu(c: BenchContext): Promise<BaselineGpu> {
  return c.shared(
    'baseline-gpu',
    async () => {
      const host = await c.hostModel();
      const config = bertConfig(host);
      const ctx = await createGpuContext(await c.env.gpu());
      const base = await BaseWeights.upload(ctx, host.weights);
      const model = await BertModel.create(ctx, config, base, { maxTokens: c.opts.tokenBudget, maxSeqs: MAX_SEQS });
      return { ctx, host, config, model, base };
    },
    (b) => {
      b.model.dispose();
      b.base.dispose();
      b.ctx.destroy();
    },
  );
}

/** Runs requests through `model` in batches under the token budget, reading each batch's logits back. */
async function forwardAll(b: { ctx: GpuContext; model: BertModel }, requests: readonly Request[], tokenBudget: number, opts: BertRunOptions): Promise<void> {
  for (const batch of batchesOf(requests, tokenBudget, MAX_SEQS)) {
    const packed = b.model.pack(batch.map((r) => ({ ids: r.ids })));
    const out = await b.model.forward(packed, opts);
    if (!out.logits) throw new Error('the baseline model produced no logits (no classifier head)');
    await readF32(b.ctx, out.logits, out.numSeqs * out.numLabels);
  }
}

const counts = (requests: readonly Request[]): { requests: number; tokens: number } => ({ requests: requests.length, tokens: requests.reduce((n, r) => n + r.ids.length, 0) });

/**
 * This slice's share of the one-tenant-at-a-time baseline at N tenants: tenants are taken in
 * order of first arrival over the whole workload (each with all its requests, its best case),
 * the slice gets its contiguous part of them, capped at sequentialTenantsPerSlice.
 */
export async function measureSequential(c: BenchContext, n: number): Promise<void> {
  const b = await baselineGpu(c);
  const groups = groupByTenant(await c.workload(n));
  const mine = c.current(groups).slice(0, c.opts.sequentialTenantsPerSlice);
  const split = await c.split();
  const adapters = new Map<number, SingleAdapterLora>();
  try {
    for (const g of mine) adapters.set(g.tenant, await SingleAdapterLora.upload(b.ctx, b.config, syntheticTenant(b.config, split, g.tenant, { count: n }).adapter, c.opts.tokenBudget));
    await c.m.sample(`sequential:${n}`, () =>
      timed(async () => {
        for (const g of mine) {
          const lora = adapters.get(g.tenant)!;
          await forwardAll(b, g.requests, c.opts.tokenBudget, { lora, head: lora.head });
        }
        return counts(mine.flatMap((g) => g.requests));
      }),
    );
  } finally {
    for (const a of adapters.values()) a.dispose();
  }
}

/**
 * This slice's share of the merged-swap baseline at N tenants: the slice's first
 * mergedRequestsPerSlice requests in arrival order; on every change of tenant the tenant's
 * merged model is uploaded (BaseWeights.upload + BertModel.create) and the previous one freed.
 */
export async function measureMerged(c: BenchContext, n: number): Promise<void> {
  const b = await baselineGpu(c);
  const reqs = c.current(await c.workload(n)).slice(0, c.opts.mergedRequestsPerSlice);
  const runs = arrivalRuns(reqs);
  const split = await c.split();
  const merged = new Map<number, TensorMap>();
  for (const r of runs) if (!merged.has(r.tenant)) merged.set(r.tenant, mergeAdapter(b.host.weights, syntheticTenant(b.config, split, r.tenant, { count: n }).adapter));
  // Where the baseline's time goes: swapping (upload + model creation, waited until the copy is done) vs forwards.
  const share = (c.results.runtimes[`merged:${n}`] ??= { swaps: 0, swapMs: 0, forwardMs: 0 });
  await c.m.sample(`merged:${n}`, () =>
    timed(async () => {
      for (const r of runs) {
        const t0 = now();
        const weights = await BaseWeights.upload(b.ctx, merged.get(r.tenant)!, 'merged');
        try {
          const model = await BertModel.create(b.ctx, b.config, weights, { maxTokens: c.opts.tokenBudget, maxSeqs: MAX_SEQS, autotune: false });
          await b.ctx.device.queue.onSubmittedWorkDone();
          const t1 = now();
          try {
            await forwardAll({ ctx: b.ctx, model }, r.requests, c.opts.tokenBudget, {});
            share.swaps++;
            share.swapMs += t1 - t0;
            share.forwardMs += now() - t1;
          } finally {
            model.dispose();
          }
        } finally {
          weights.dispose();
        }
      }
      return counts(reqs);
    }),
  );
}

/** Bytes of one full copy of the base model's weights (what every merged tenant costs on the GPU). */
export async function fullModelBytes(c: BenchContext): Promise<number> {
  const host = await c.hostModel();
  let n = 0;
  for (const t of host.weights.values()) n += t.data.byteLength;
  return n;
}
