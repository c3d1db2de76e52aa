import { MissingWeightError } from '../formats/errors.js';
import { directorySource } from '../formats/model-source.js';
import { AdapterPool } from '../knowledge/task/pool.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import { nodeGpu } from '../gpu/node.js';
import { HmiRuntime } from '../runtime/runtime.js';
import { checkServedHead } from '../runtime/tenant-registry.js';
import type { ParsedArgs } from './args.js';
import { CLI_TENANT, prepareTenant, registerTenant, TENANT_VALUED } from './tenant.js';

export const CLASSIFY_VALUED = new Set<string>(TENANT_VALUED);
export const CLASSIFY_SWITCHES = new Set(['json', 'truncate']);

export interface ClassifyCliResult {
  readonly label: string;
  /** The adapter's labels (its config's), or LABEL_i as the runtime names unnamed ones. */
  readonly labels: readonly string[];
  /** Softmax over the labels, in their order. */
  readonly scores: readonly number[];
}

/**
 * `hmi classify`: runtime.classify on an hBERT runtime holding the one tenant (--truncate =
 * ClassifyOptions.truncate). No autotune: one request does not repay it.
 */
export async function runClassify(args: ParsedArgs): Promise<ClassifyCliResult> {
  const t = await prepareTenant(args, 'classify', 'bert', true);
  const w = t.adapter.head.get('classifier.weight');
  if (!w) throw new MissingWeightError('classifier.weight', `the adapter ${String(args.flags.get('adapter'))} has no classifier (no classifier.weight in its modules_to_save)`);
  // tenants.add would refuse it too, but only after the device is open and the model uploaded.
  checkServedHead(t.adapter, '`hmi infer --adapter` runs an adapter\'s own pooler');
  const c = t.loaded.config;
  const rt = await HmiRuntime.create(await nodeGpu(), t.loaded, directorySource(t.modelDir), {
    store: new MemoryTenantStore(),
    poolBytes: Math.max(c.hiddenSize * 4, AdapterPool.bytesNeeded(t.adapter, c.hiddenSize)),
    tokenBudget: c.maxPositions,
    autotune: false,
    ...(t.split !== undefined ? { split: t.split } : {}),
  });
  try {
    await registerTenant(rt, t);
    const r = await rt.classify(CLI_TENANT, t.input, { truncate: args.flags.has('truncate') });
    const labels = t.adapter.labels ?? Array.from({ length: w.shape[0] }, (_, i) => `LABEL_${i}`);
    return { label: r.label, labels, scores: r.scores };
  } finally {
    await rt.dispose();
  }
}

/** The non-JSON output: one line per label, the chosen one marked. */
export function classifyTable(r: ClassifyCliResult): string {
  const width = Math.max(5, ...r.labels.map((l) => l.length));
  return [`${'label'.padEnd(width)}  score`, ...r.labels.map((l, i) => `${l.padEnd(width)}  ${r.scores[i].toFixed(4)}${l === r.label ? '  <' : ''}`)].join('\n');
}
