import type { Gpt2Config } from '../../src/formats/model-config.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { HmiError } from '../../src/errors.js';
import type { BenchContext } from '../lib/context.js';
import { timed } from '../lib/measure.js';
import type { Scenario } from '../lib/scenario.js';
import { tenantId } from '../lib/serving.js';
import type { TfjsGpt2, TfjsGpt2Tenant } from '../lib/tfjs-gpt2.js';
import { groupByTenant } from '../lib/workload.js';
import { generate, generationRuntime, hostGpt, workload } from './generate.js';
import { tfjsWebgpu } from './vs-tfjs.js';

/** Tenants of the comparison: generate's N = 100, so "ours" is generate:100, a figure the run already has. */
const TENANTS = 100;
const OURS = `generate:${TENANTS}`;
const THEIRS = `tfjs-generate:${TENANTS}`;
/** Tenants whose greedy tokens are checked, each on the same few prompts batched together. */
const PROBE_TENANTS = 3;
/**
 * Largest logit gap at which a differing greedy token is a near-tie (both f32, summed in
 * different orders), not a different computation: tfjs's logit for its pick may exceed its
 * logit for the runtime's pick by at most this.
 */
const TIE = 1e-3;
/**
 * Tenants tfjs decodes per slice. On SwiftShader a tfjs decode step (some 300 dispatches for
 * the 4-layer model) takes ~0.5 s, so a tenant's 8 tokens cost ~4 s: one per slice keeps the
 * default run bounded, and a rate needs no more.
 */
const TFJS_TENANTS_PER_SLICE = 1;

/** tfjs's greedy tokens disagree with the runtime's: its throughput would not be of the same computation. */
export class TfjsGenerateMismatchError extends HmiError {
  constructor(message: string) {
    super('BENCH_TFJS_GPT_MISMATCH', `vsTfjsHgpt: tfjs and the runtime disagree: ${message}`);
  }
}

interface TfjsSide {
  readonly model: TfjsGpt2;
  readonly config: Gpt2Config;
  readonly version: string;
}

function tfjsSide(c: BenchContext): Promise<TfjsSide> {
  return c.shared(
    'tfjs-gpt2',
    async () => {
      const version = await tfjsWebgpu(c);
      const { TfjsGpt2 } = await import('../lib/tfjs-gpt2.js');
      const host = await hostGpt(c);
      if (host.config.family !== 'gpt2') throw new Error(`vsTfjsHgpt needs an hGPT model, got ${host.config.family}`);
      return { model: TfjsGpt2.create(host.config, host.weights), config: host.config, version };
    },
    (s) => s.model.dispose(),
  );
}

async function runtimeTokens(rt: HmiRuntimeApi, tenant: number, ids: readonly number[], maxTokens: number): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of rt.generate(tenantId(tenant), ids, { maxTokens, temperature: 0 })) if (chunk.tokenId >= 0) out.push(chunk.tokenId);
  return out;
}

async function withTenants<T>(t: TfjsSide, c: BenchContext, tenants: readonly number[], f: (m: Map<number, TfjsGpt2Tenant>) => Promise<T>): Promise<T> {
  // The runtime's: its default split (half the layers), addSynthetic over generate's largest N.
  const split = Math.floor(t.config.numLayers / 2);
  const count = Math.max(...c.opts.generateTenants);
  const m = new Map<number, TfjsGpt2Tenant>();
  try {
    for (const i of tenants) m.set(i, t.model.tenant(syntheticTenant(t.config, split, i, { count }).adapter));
    return await f(m);
  } finally {
    for (const x of m.values()) x.dispose();
  }
}

/**
 * Before the first timing: tfjs's greedy tokens equal to the runtime's for a few tenants, each
 * on the shortest, a middle and the longest prompt of the workload decoded as one padded batch
 * (the runtime decodes each alone). A differing token is accepted only as a near-tie of tfjs's
 * logits after the common prefix; the prompt's comparison stops there. Then one batch of every
 * size the timing uses, so that its shaders are compiled. Fails the run loudly otherwise.
 */
async function warmAndCheck(c: BenchContext, t: TfjsSide, rt: HmiRuntimeApi): Promise<void> {
  const t0 = Date.now();
  const reqs = await workload(c, TENANTS);
  const groups = groupByTenant(reqs);
  const byLength = [...reqs].sort((a, b) => a.ids.length - b.ids.length);
  const prompts = [byLength[0], byLength[byLength.length >> 1], byLength[byLength.length - 1]].map((r) => r.ids);
  const probes = groups.slice(0, PROBE_TENANTS).map((g) => g.tenant);
  const maxTokens = c.opts.generateTokens;
  let equal = 0;
  let ties = 0;
  let worstGap = 0;
  await withTenants(t, c, probes, async (m) => {
    for (const tenant of probes) {
      const tt = m.get(tenant)!;
      const theirs = await t.model.generate(tt, prompts, maxTokens);
      const mine = await Promise.all(prompts.map((p) => runtimeTokens(rt, tenant, p, maxTokens)));
      for (const [i, p] of prompts.entries()) {
        if (mine[i].length !== maxTokens) throw new TfjsGenerateMismatchError(`tenant ${tenant}: the runtime generated ${mine[i].length} tokens, not ${maxTokens}`);
        const at = mine[i].findIndex((id, s) => id !== theirs[i][s]);
        if (at < 0) {
          equal++;
          continue;
        }
        const logits = await t.model.nextLogits(tt, [...p, ...mine[i].slice(0, at)]);
        const gap = logits[theirs[i][at]] - logits[mine[i][at]];
        if (!(gap <= TIE)) {
          throw new TfjsGenerateMismatchError(
            `tenant ${tenant}, prompt of ${p.length} tokens, step ${at}: runtime ${mine[i][at]}, tfjs ${theirs[i][at]}, tfjs logit gap ${gap} > ${TIE} (runtime [${mine[i].join(',')}], tfjs [${theirs[i].join(',')}])`,
          );
        }
        ties++;
        worstGap = Math.max(worstGap, gap);
      }
    }
  });
  const sizes = [...new Set(groups.map((g) => g.requests.length))];
  await withTenants(t, c, probes.slice(0, 1), async (m) => {
    for (const n of sizes) await t.model.generate(m.get(probes[0])!, byLength.slice(0, n).map((r) => r.ids), maxTokens);
  });
  const n = prompts.length * probes.length;
  const tieNote = ties ? `; ${ties} diverged at a near-tie (tfjs logit gap <= ${worstGap.toExponential(1)}) and were compared up to it` : '';
  c.results.notes.push(`vsTfjsHgpt check: tfjs-webgpu's greedy tokens equal the runtime's on ${equal} of ${n} prompts (${probes.length} tenants, ${maxTokens} tokens each, tfjs decoding the workload's prompts of ${prompts.map((p) => p.length).join('/')} tokens as one left-padded batch, the runtime each alone)${tieNote}.`);
  c.env.log(`vsTfjsHgpt: tfjs greedy tokens match the runtime's (${equal}/${n} equal, ${ties} near-ties); checked and warmed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Batched runtime (generate:100: continuous batching, all of the slice's prompts at once) /
 * tfjs-backend-webgpu running the same hGPT on the same prompts, a tenant at a time (its
 * prompts as one batch, its LoRA as tf matmuls): generated tokens per second. Tenants in order
 * of first arrival; the slice gets its contiguous part of them. Adapters are uploaded before
 * the clock. Chromium only.
 */
export const vsTfjsHgpt: Scenario = {
  name: 'vsTfjsHgpt',
  async run(c) {
    if (c.env.where === 'node' || !c.opts.generateTenants.includes(TENANTS)) return;
    // Samples generate:100 this slice unless the generate scenario already did (a key is sampled once per slice).
    await generate.run(c);
    const t = await tfjsSide(c);
    if (c.slice === 0) await warmAndCheck(c, t, await generationRuntime(c));
    const mine = c.current(groupByTenant(await workload(c, TENANTS))).slice(0, TFJS_TENANTS_PER_SLICE);
    await withTenants(t, c, mine.map((g) => g.tenant), (m) =>
      c.m.sample(THEIRS, () =>
        timed(async () => {
          let tokens = 0;
          for (const g of mine) {
            const out = await t.model.generate(m.get(g.tenant)!, g.requests.map((r) => r.ids), c.opts.generateTokens);
            tokens += out.reduce((n, o) => n + o.length, 0);
          }
          return { requests: mine.reduce((n, g) => n + g.requests.length, 0), tokens };
        }),
      ),
    );
  },
  async report(c) {
    if (c.env.where === 'node') {
      c.results.notes.push('vsTfjsHgpt: not measured in Node (tfjs-backend-webgpu runs in a page); vsTfjs.hgpt null.');
      return;
    }
    if (!c.opts.generateTenants.includes(TENANTS)) {
      c.results.notes.push(`vsTfjsHgpt: not measured (its "ours" is generate:${TENANTS}, and the run's generate N are ${c.opts.generateTenants.join(',')}); vsTfjs.hgpt null.`);
      return;
    }
    const tps = (key: string): number | null => {
      const s = c.m.total(key);
      return s && s.seconds > 0 ? s.tokens / s.seconds : null;
    };
    const ours = tps(OURS);
    const theirs = tps(THEIRS);
    c.results.vsTfjs.hgpt = ours !== null && theirs !== null && theirs > 0 ? ours / theirs : null;
    const { version } = await tfjsSide(c);
    c.results.notes.push(
      `vsTfjsHgpt: generated tokens/s of ${OURS} (the hGPT runtime, continuous batching, each slice's prompts submitted at once) / tfjs ${version} with its webgpu backend in the same page on the same hGPT weights and the same prompts (8-16 tokens, ${c.opts.generateTokens} greedy tokens each, no stop token), a tenant at a time in order of first arrival, its prompts as one left-padded batch (padding masked, positions per row), LoRA as x@A^T@(scale*B^T) per adapted projection, a KV cache grown by concat, the next tokens read back with data() every step; weights and adapters uploaded before the clock. Sampled: the first ${TFJS_TENANTS_PER_SLICE} tenant(s) of each slice.`,
    );
  },
};
