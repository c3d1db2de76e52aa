// Step 2 of the chain: the trained vocabularies become tokenizer.json files (the project's own
// writer), then every document and task example is tokenized with @huggingface/tokenizers
// through the runtime's own loadTokenizer, so training sees exactly the ids serving will.
//
// Writes, under WORK (training/.work):
//   tokenizers/{hbert,hgpt}/tokenizer.json, tokenizer_config.json
//   ids/{hbert,hgpt}-{mail,speeches,moby}.i32  (all documents' ids, concatenated)
//   ids/{hbert,hgpt}-{mail,speeches,moby}.json (per document: id, split, start, len, meta)
//   ids/task-{spam,party,era}.i32/.json        (hBERT examples: [CLS] ... [SEP], at most 128 ids)
// usage: node training/prepare.mjs WORK
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { classificationTasks, loadAll } from './data.mjs';
import { BERT_MAX_POSITIONS, GPT_MAX_POSITIONS, truncateIds } from './shapes.mjs';

const work = process.argv[2] ?? 'training/.work';
const files = await tsImport('../src/formats/tokenizer-files.ts', import.meta.url);
const { loadTokenizer } = await tsImport('../src/formats/tokenizer.ts', import.meta.url);

const json = (v) => `${JSON.stringify(v, null, 2)}\n`;

async function writeTokenizer(name, t) {
  const dir = join(work, 'tokenizers', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), json(t.tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), json(t.config));
  return loadTokenizer(t.tokenizer, t.config);
}

const vocab = (await readFile(join(work, 'wordpiece-vocab.txt'), 'utf8')).split('\n').filter((l) => l.length > 0);
const merges = (await readFile(join(work, 'bpe-merges.txt'), 'utf8'))
  .split('\n')
  .filter((l) => l.length > 0)
  .map((l) => {
    const cut = l.indexOf(' ');
    return [l.slice(0, cut), l.slice(cut + 1)];
  });
const bert = await writeTokenizer('hbert', files.wordPieceTokenizerFiles(vocab, BERT_MAX_POSITIONS));
const gpt = await writeTokenizer('hgpt', files.byteLevelBpeTokenizerFiles(merges, GPT_MAX_POSITIONS));
const cls = bert.tokenToId('[CLS]');
const sep = bert.tokenToId('[SEP]');

await mkdir(join(work, 'ids'), { recursive: true });

async function writeIds(name, docs, encode) {
  const chunks = [];
  const index = [];
  let start = 0;
  for (const d of docs) {
    const ids = encode(d);
    chunks.push(Int32Array.from(ids));
    const { text: _text, ...meta } = d;
    index.push({ ...meta, start, len: ids.length });
    start += ids.length;
  }
  const all = new Int32Array(start);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  await writeFile(join(work, 'ids', `${name}.i32`), Buffer.from(all.buffer));
  await writeFile(join(work, 'ids', `${name}.json`), JSON.stringify(index));
  console.log(`  ${name}: ${index.length} items, ${start} ids`);
}

const data = loadAll();
// Raw token streams for pretraining: BERT without its [CLS]/[SEP] (the trainer frames windows).
const bertRaw = (d) => {
  const ids = bert.encode(d.text);
  return ids.slice(ids[0] === cls ? 1 : 0, ids[ids.length - 1] === sep ? -1 : undefined);
};
const gptRaw = (d) => gpt.encode(d.text);
for (const corpus of ['mail', 'speeches', 'moby']) {
  await writeIds(`hbert-${corpus}`, data[corpus], bertRaw);
  await writeIds(`hgpt-${corpus}`, data[corpus], gptRaw);
}
for (const task of classificationTasks(data)) {
  const examples = task.examples.map((e) => ({ ...e, label: task.labels.indexOf(e.label) }));
  await writeIds(`task-${task.task}`, examples, (e) => truncateIds(bert.encode(e.text), BERT_MAX_POSITIONS, sep));
  await writeFile(join(work, 'ids', `task-${task.task}.labels.json`), JSON.stringify({ task: task.task, domain: task.domain, labels: task.labels }));
}
console.log('prepare: done');
