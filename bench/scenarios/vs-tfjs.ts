import type { BenchContext } from '../lib/context.js';
import { timed } from '../lib/measure.js';
import type { Scenario } from '../lib/scenario.js';
import { measureOurs, serving, specFor, tenantId } from '../lib/serving.js';
import type { TfjsBert, TfjsTenant } from '../lib/tfjs-bert.js';
import { batchesOf, groupByTenant, type Request } from '../lib/workload.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { HmiError } from '../../src/errors.js';

/** Tenants of the comparison: vsSequential's smallest N, so "ours" is a figure the run already has. */
const TENANTS = 100;
/** Sequences per tfjs forward, as the runtime's and the sequential baseline's batches. */
const MAX_SEQS = 64;
/** Largest |tfjs score - our score| accepted: both are f32 on the same weights. */
const TOLERANCE = 1e-3;

/** tfjs's forward disagrees with the runtime's: its throughput would not be of the same computation. */
export class TfjsMismatchError extends HmiError {
  constructor(message: string) {
    super('BENCH_TFJS_MISMATCH', `vsTfjs: tfjs and the runtime disagree: ${message}`);
  }
}

interface TfjsSide {
  readonly model: TfjsBert;
  readonly config: BertConfig;
  readonly version: string;
}

/**
 * tfjs with its WebGPU backend started in this page; resolves to tfjs's version. Imported only
 * here (and by the hGPT comparison through this), so Node never loads tfjs (Chromium-only).
 */
export function tfjsWebgpu(c: BenchContext): Promise<string> {
  return c.shared(
    'tfjs-webgpu',
    async () => {
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its webgpu backend');
      await tf.ready();
      return tf.version_core;
    },
    () => undefined,
  );
}

/** tfjs on the host model's (hBERT) weights. */
function tfjsSide(c: BenchContext): Promise<TfjsSide> {
  return c.shared(
    'tfjs-bert',
    async () => {
      const version = await tfjsWebgpu(c);
      const { TfjsBert } = await import('../lib/tfjs-bert.js');
      const host = await c.hostModel();
      if (host.config.family !== 'bert') throw new Error(`vsTfjs needs an hBERT model, got ${host.config.family}`);
      return { model: TfjsBert.create(host.config, host.weights), config: host.config, version };
    },
    (s) => s.model.dispose(),
  );
}

/** One tenant's requests in batches under the token budget, each batch's scores read back. */
async function runTenant(t: TfjsSide, tenant: TfjsTenant, requests: readonly Request[], tokenBudget: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const batch of batchesOf(requests, tokenBudget, MAX_SEQS)) out.push(await t.model.classify(tenant, batch.map((r) => r.ids)));
  return out;
}

async function withTenants<T>(t: TfjsSide, c: BenchContext, tenants: readonly number[], f: (m: Map<number, TfjsTenant>) => Promise<T>): Promise<T> {
  const split = await c.split();
  const count = specFor(c, TENANTS).tenants;
  const m = new Map<number, TfjsTenant>();
  try {
    for (const i of tenants) m.set(i, t.model.tenant(syntheticTenant(t.config, split, i, { count }).adapter));
    return await f(m);
  } finally {
    for (const x of m.values()) x.dispose();
  }
}

/**
 * Before the first timing: shaders compiled on real lengths (as the runtime's warm-up does),
 * and tfjs's scores equal to the runtime's on a few requests of different tenants, each in a
 * padded batch with a longer request of its tenant. Fails the run loudly otherwise.
 */
async function warmAndCheck(c: BenchContext, t: TfjsSide): Promise<void> {
  const groups = groupByTenant(await c.workload(TENANTS)).filter((g) => g.requests.length >= 2);
  const probes = groups.slice(0, 4);
  const ours = await serving(c, specFor(c, TENANTS));
  let worst = 0;
  await withTenants(t, c, probes.map((g) => g.tenant), async (m) => {
    for (const g of probes) {
      const rs = [...g.requests].sort((a, b) => a.ids.length - b.ids.length);
      const pair = [rs[0], rs[rs.length - 1]];
      const theirs = await t.model.classify(m.get(g.tenant)!, pair.map((r) => r.ids));
      const n = m.get(g.tenant)!.numLabels;
      for (const [q, r] of pair.entries()) {
        const mine = (await ours.rt.classify(tenantId(g.tenant), r.ids)).scores;
        if (mine.length !== n) throw new TfjsMismatchError(`tenant ${g.tenant} has ${mine.length} labels in the runtime, ${n} in tfjs`);
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(mine[i] - theirs[q * n + i]));
      }
    }
    for (const g of probes) await runTenant(t, m.get(g.tenant)!, g.requests, c.opts.tokenBudget);
  });
  if (!(worst <= TOLERANCE)) throw new TfjsMismatchError(`max |score difference| ${worst} > ${TOLERANCE} over ${2 * probes.length} requests`);
  c.results.notes.push(`vsTfjs check: tfjs-webgpu's class scores equal the runtime's within ${worst.toExponential(1)} (max abs) on ${2 * probes.length} requests of ${probes.length} tenants, each in a padded batch.`);
  c.env.log(`vsTfjs: tfjs scores match the runtime's (max abs diff ${worst.toExponential(2)})`);
}

/**
 * Batched runtime / tfjs-backend-webgpu running the same hBERT on the same requests, a tenant at
 * a time (its requests batched, its LoRA as tf matmuls, its own head): the best a tfjs user
 * could do. Tenants in order of first arrival, each with all its requests (its best case); the
 * slice gets its contiguous part of them. Adapters are uploaded before the clock. Chromium only.
 */
export const vsTfjs: Scenario = {
  name: 'vsTfjs',
  async run(c) {
    if (c.env.where === 'node') return;
    const t = await tfjsSide(c);
    if (c.slice === 0) await warmAndCheck(c, t);
    await measureOurs(c, TENANTS);
    // tfjs runs ~10x slower: a sample of the slice's tenants (a rate needs no more) keeps the default run bounded.
    const mine = c.current(groupByTenant(await c.workload(TENANTS))).slice(0, c.opts.tfjsTenantsPerSlice);
    await withTenants(t, c, mine.map((g) => g.tenant), (m) =>
      c.m.sample(`tfjs:${TENANTS}`, () =>
        timed(async () => {
          for (const g of mine) await runTenant(t, m.get(g.tenant)!, g.requests, c.opts.tokenBudget);
          const reqs = mine.flatMap((g) => g.requests);
          return { requests: reqs.length, tokens: reqs.reduce((n, r) => n + r.ids.length, 0) };
        }),
      ),
    );
  },
  async report(c) {
    if (c.env.where === 'node') {
      c.results.notes.push('vsTfjs: not measured in Node (tfjs-backend-webgpu runs in a page); null.');
      return;
    }
    c.results.vsTfjs.hbert = c.m.ratio(`ours:${TENANTS}`, `tfjs:${TENANTS}`);
    const { version } = await tfjsSide(c);
    c.results.notes.push(
      `vsTfjs: ${TENANTS} tenants, the workload of ours:${TENANTS}; tfjs ${version} with its webgpu backend in the same page runs the same hBERT weights, a tenant at a time in order of first arrival, its requests in batches under the token budget padded to the longest (attention masked), LoRA as x@A^T@(scale*B^T) per adapted projection and its own pooler/classifier; weights and adapters uploaded before the clock, scores read back with data().`,
    );
  },
};
