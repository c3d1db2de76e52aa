#!/usr/bin/env node
// Writes SYNTHETIC models and adapters (random weights, deterministic) in Hugging Face layout,
// for tests and load experiments: <outDir>/hbert-mini/, <outDir>/hgpt-mini/,
// <outDir>/adapters/<base>/<name>/, <outDir>/index.json ("synthetic": true).
// The embedded default models in public/models/ are trained, not these: see training/.
// Usage: node scripts/make-models.mjs [outDir]   (default synthetic-models)
// Deterministic: the same generator version gives byte-identical files. A stamp file records
// what was generated, so a second run with nothing changed does no work.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { tsImport } from 'tsx/esm/api';

const outDir = resolve(process.argv[2] ?? 'synthetic-models');
const synthetic = await tsImport('../src/model/synthetic.ts', import.meta.url);
const { parseHfConfig } = await tsImport('../src/formats/hf-config.ts', import.meta.url);
const { fnv1a64 } = await tsImport('../src/formats/hash.ts', import.meta.url);

const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'];
const STAMP = '.hmi-models-version';

const stamp = `${JSON.stringify({
  generator: synthetic.GENERATOR_VERSION,
  models: Object.keys(synthetic.DEFAULT_MODELS),
  adapters: synthetic.DEFAULT_ADAPTERS,
})}\n`;

const expected = [
  'index.json',
  ...Object.keys(synthetic.DEFAULT_MODELS).flatMap((m) => MODEL_FILES.map((f) => `${m}/${f}`)),
  ...synthetic.DEFAULT_ADAPTERS.flatMap((a) => ADAPTER_FILES.map((f) => `adapters/${a.base}/${a.name}/${f}`)),
];

async function exists(path) {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function upToDate() {
  const old = await readFile(join(outDir, STAMP), 'utf8').catch(() => null);
  if (old !== stamp) return false;
  for (const f of expected) if (!(await exists(join(outDir, f)))) return false;
  return true;
}

async function put(rel, content) {
  const path = join(outDir, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
  console.log(`  ${rel} (${bytes} bytes)`);
}

if (await upToDate()) {
  console.log(`make-models: ${outDir} is up to date (generator v${synthetic.GENERATOR_VERSION})`);
} else {
  console.log(`make-models: writing synthetic (random-weight) models to ${outDir}`);
  const index = { synthetic: true, generator: synthetic.GENERATOR_VERSION, models: [], adapters: [] };
  const configs = new Map();
  for (const [name, make] of Object.entries(synthetic.DEFAULT_MODELS)) {
    const files = make();
    for (const f of MODEL_FILES) await put(`${name}/${f}`, files[f]);
    const config = parseHfConfig(JSON.parse(files['config.json']));
    configs.set(name, config);
    index.models.push({ id: name, family: config.family, path: `${name}/`, hash: fnv1a64(files['model.safetensors']) });
  }
  for (const spec of synthetic.DEFAULT_ADAPTERS) {
    const files = synthetic.makeAdapterFiles(configs.get(spec.base), spec.options);
    const rel = `adapters/${spec.base}/${spec.name}/`;
    for (const f of ADAPTER_FILES) await put(`${rel}${f}`, files[f]);
    const cfg = JSON.parse(files['adapter_config.json']);
    index.adapters.push({
      id: spec.name,
      base: spec.base,
      path: rel,
      rank: cfg.r,
      targets: cfg.target_modules,
      ...(cfg.labels ? { labels: cfg.labels } : {}),
    });
  }
  await put('index.json', `${JSON.stringify(index, null, 2)}\n`);
  // Last, so an interrupted run is redone next time.
  await writeFile(join(outDir, STAMP), stamp);
  console.log(`make-models: done (generator v${synthetic.GENERATOR_VERSION})`);
}
