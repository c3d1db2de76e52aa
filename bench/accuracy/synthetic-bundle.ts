/**
 * A bundle in the shape training ships (index.json version 2, domains with lower-layer
 * adapters, a PLOT per model, task tenants with their full-model references, style tenants),
 * from the synthetic generator: random weights, so its accuracies mean nothing. It lets the
 * accuracy benchmark run end to end (`--bundle=DIR`) where the trained files are absent, and
 * its test check the plumbing.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fnv1a64 } from '../../src/formats/hash.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { DirChunkStore } from '../../src/knowledge/domain/chunk-store.js';
import { PlotStore } from '../../src/knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { makeAdapterFiles, makeBertFiles, makeGpt2Files, type BertFilesOptions, type Gpt2FilesOptions, type ModelFiles } from '../../src/model/synthetic.js';
import { loadBundle } from '../../src/runtime/bundle.js';
import { createRuntime } from '../../src/create-runtime.js';

export interface SyntheticBundleOptions {
  readonly gpu: GPU;
  /** The hBERT tasks: id, domain and labels (as training/data.mjs classificationTasks gives them). */
  readonly tasks: readonly { readonly task: string; readonly domain: string; readonly labels: readonly string[] }[];
  /** Presidents' slugs of the style tenants (`style-<slug>`, domain politics). */
  readonly styleSlugs: readonly string[];
  /** Texts each domain's PLOT is built from (hBERT and hGPT alike). */
  readonly corpora: Readonly<Record<string, readonly string[]>>;
  readonly bert?: BertFilesOptions;
  readonly gpt?: Gpt2FilesOptions;
}

const DOMAINS = ['email', 'politics', 'literature'] as const;

async function put(dir: string, files: ModelFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}

/** Writes the bundle into `dir` (which should be empty) and builds its PLOTs on `gpu`. */
export async function writeSyntheticBundle(dir: string, o: SyntheticBundleOptions): Promise<void> {
  const models = [
    { id: 'hbert-mini', family: 'bert' as const, files: makeBertFiles({ labels: [], ...o.bert }) },
    { id: 'hgpt-mini', family: 'gpt2' as const, files: makeGpt2Files(o.gpt) },
  ];
  const configs = new Map<string, ModelConfig>();
  for (const m of models) {
    await put(join(dir, m.id), m.files);
    configs.set(m.id, parseHfConfig(JSON.parse(m.files['config.json'] as string)));
  }
  const bert = configs.get('hbert-mini')!;
  const gpt = configs.get('hgpt-mini')!;
  const lowerLayers = (c: ModelConfig): number[] => Array.from({ length: Math.floor(c.numLayers / 2) }, (_, i) => i);
  const domains = [];
  let seed = 500;
  for (const m of models) {
    const config = configs.get(m.id)!;
    for (const d of DOMAINS) {
      const path = `domains/${m.id}/${d}/`;
      await put(join(dir, path), makeAdapterFiles(config, { rank: 4, seed: seed++, layers: lowerLayers(config), strength: 0.2 }));
      domains.push({ model: m.id, id: d, parent: 'general', lowerAdapter: path, budgetEntries: 3000, trainedOn: `synthetic (random) lower layers for ${d}` });
    }
  }
  const tenants = [];
  for (const t of o.tasks) {
    const path = `adapters/hbert-mini/${t.task}/`;
    const reference = `adapters/hbert-mini/${t.task}-full/`;
    await put(join(dir, path), makeAdapterFiles(bert, { rank: 4, seed: seed++, labels: t.labels }));
    await put(join(dir, reference), makeAdapterFiles(bert, { rank: 4, seed: seed++, labels: t.labels, layers: Array.from({ length: bert.numLayers }, (_, i) => i) }));
    tenants.push({ id: t.task, model: 'hbert-mini', path, domain: t.domain, task: 'classify', labels: [...t.labels], rank: 4, trainedOn: 'synthetic (random) adapter', reference });
  }
  for (const slug of o.styleSlugs) {
    const path = `adapters/hgpt-mini/style-${slug}/`;
    await put(join(dir, path), makeAdapterFiles(gpt, { rank: 8, seed: seed++, strength: 0.2 }));
    tenants.push({ id: `style-${slug}`, model: 'hgpt-mini', path, domain: 'politics', task: 'generate', rank: 8, trainedOn: 'synthetic (random) adapter' });
  }
  const index = {
    version: 2,
    synthetic: true,
    models: models.map((m) => ({ id: m.id, family: m.family, path: `${m.id}/`, hash: fnv1a64(m.files['model.safetensors'] as Uint8Array), trainedOn: 'synthetic (random) weights' })),
    domains,
    plot: { 'hbert-mini': 'plot/hbert-mini/', 'hgpt-mini': 'plot/hgpt-mini/' },
    tenants,
  };
  await writeFile(join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  // The PLOTs as training builds them: every node from its corpus, written where plotSource reads.
  for (const m of models) {
    const rt = await createRuntime({ gpu: o.gpu, model: join(dir, m.id), store: new MemoryTenantStore(), plotStore: new PlotStore(new DirChunkStore(join(dir, 'plot', m.id))), autotune: false });
    try {
      await loadBundle(rt, dir, { tenants: false });
      for (const [domain, texts] of Object.entries(o.corpora)) if (texts.length) await rt.domains.build(domain, texts);
    } finally {
      await rt.dispose();
    }
  }
}
