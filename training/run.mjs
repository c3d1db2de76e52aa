#!/usr/bin/env node
// `npm run train [-- --work DIR] [--out DIR] [--force] [--jobs N]`: the whole chain from the npm
// datasets to the files the runtime loads (public/models/), offline, with fixed seeds.
//   1. data: training/data.mjs splits the corpora; the training split's text feeds the tokenizers
//   2. tokenizers: WordPiece (hBERT) and byte-level BPE (hGPT) learned on it (py/train_tokenizers.py)
//   3. prepare: tokenizer.json files + every document and task example tokenized (prepare.mjs)
//   4. pretrain: hBERT (masked LM) and hGPT (causal LM), full and PLOT path together
//   5. dapt: each domain's lower-layer LoRA (email, politics, literature) for both models
//   6. tenants: hBERT tasks (served hPLM adapter + all-layer reference), bag-of-words floors,
//      hGPT style tenants (one per president with >= 8 speeches) and moby-dick
//   7. export: PEFT files, PLOT tables built by the runtime, index.json, manifest.json (export.mjs)
// A stage whose report exists in the work dir is skipped, so an interrupted run resumes;
// --force starts over. Stages run `--jobs` at a time (default 2, one thread each).
// Needs PyTorch for /usr/bin/python3: installed with apt-get when missing and we are root.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const work = resolve(flag('work', join(here, '.work')));
const out = resolve(flag('out', join(here, '../public/models')));
const jobs = Number(flag('jobs', '2'));
const PY = '/usr/bin/python3';
const t0 = Date.now();

function ensureTorch() {
  try {
    execFileSync(PY, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
    return;
  } catch {
    // fall through
  }
  if (process.getuid?.() !== 0) {
    throw new Error('PyTorch is missing for /usr/bin/python3: run `sudo apt-get install -y python3-torch libopenblas0-pthread`, then npm run train again');
  }
  console.log('train: installing python3-torch and libopenblas0-pthread (Debian)');
  execFileSync('apt-get', ['install', '-y', 'python3-torch', 'libopenblas0-pthread', 'python3-numpy'], { stdio: 'inherit' });
}

function run(cmd, argv, log, env = {}) {
  return new Promise((ok, fail) => {
    const file = createWriteStream(log);
    const child = spawn(cmd, argv, { cwd: work, env: { ...process.env, HMI_THREADS: '1', ...env } });
    child.stdout.pipe(file);
    child.stderr.pipe(file);
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} ${argv.join(' ')} failed (exit ${code}); see ${log}`))));
  });
}

const elapsed = () => `${Math.round((Date.now() - t0) / 1000)}s`;

/** Runs python stages `jobs` at a time; each is skipped when its report already exists. */
async function stages(list) {
  const queue = list.filter((s) => {
    if (existsSync(join(work, `report-${s.report}.json`))) {
      console.log(`  ${s.report}: done before, skipped`);
      return false;
    }
    return true;
  });
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      console.log(`  ${s.report}: started (${elapsed()})`);
      await run(PY, [join(here, 'py/train.py'), ...s.argv], join(work, 'logs', `${s.report}.log`));
      console.log(`  ${s.report}: finished (${elapsed()})`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
}

async function main() {
  if (args.includes('--force')) rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'logs'), { recursive: true });
  ensureTorch();
  const data = await import('./data.mjs');

  console.log('train: 1-3 data, tokenizers, tokenized corpora');
  if (!existsSync(join(work, 'ids', 'task-era.json'))) {
    const all = data.loadAll();
    const texts = ['mail', 'speeches', 'moby'].flatMap((k) => all[k].filter((d) => d.split === 'train').map((d) => d.text));
    writeFileSync(join(work, 'tokenizer-corpus.json'), JSON.stringify(texts));
    await run(PY, [join(here, 'py/train_tokenizers.py'), work, '8192', '8192'], join(work, 'logs', 'tokenizers.log'));
    await run(process.execPath, [join(here, 'prepare.mjs'), work], join(work, 'logs', 'prepare.log'));
  }

  console.log('train: 4 pretraining');
  await stages([
    { report: 'pretrain-bert', argv: ['pretrain-bert', '.', 'out/hbert-mini'] },
    { report: 'pretrain-gpt', argv: ['pretrain-gpt', '.', 'out/hgpt-mini'] },
  ]);

  console.log('train: 5 domain-adaptive pretraining');
  const domains = ['email', 'politics', 'literature'];
  await stages(domains.flatMap((d) => [
    { report: `dapt-hbert-${d}`, argv: ['dapt', 'bert', '.', d] },
    { report: `dapt-hgpt-${d}`, argv: ['dapt', 'gpt2', '.', d] },
  ]));

  console.log('train: 6 tenants');
  const presidents = data.stylePresidents(data.loadSpeeches());
  await stages([
    ...['spam', 'party', 'era'].flatMap((t) => [
      { report: `task-${t}`, argv: ['task', '.', t] },
      { report: `bow-${t}`, argv: ['bow', '.', t] },
    ]),
    ...presidents.map((p) => ({ report: `lm-style-${p.slug}`, argv: ['lm-tenant', '.', `style-${p.slug}`, 'politics', `speeches:${p.slug}`] })),
    { report: 'lm-moby-dick', argv: ['lm-tenant', '.', 'moby-dick', 'literature', 'moby'] },
  ]);

  console.log('train: 7 export');
  await run(process.execPath, [join(here, 'export.mjs'), work, out], join(work, 'logs', 'export.log'), { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json' });
  console.log(`train: done in ${elapsed()}; files in ${out}, manifest ${join(out, 'manifest.json')}`);
}

main().catch((e) => {
  console.error(`train: ${e.message}`);
  process.exit(1);
});
