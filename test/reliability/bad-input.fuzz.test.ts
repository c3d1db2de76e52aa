/**
 * Bad input, file formats: mutated and truncated PEFT adapters, HF config.json and
 * tokenizer.json, through the same entry points the runtime uses (loadAdapter / loadModel
 * over a ModelSource). Every case ends in an HmiError or in a result that the runtime can
 * use as is. Pure CPU; deterministic seeds. (Raw safetensors parsing has its own fuzz test
 * in test/formats/safetensors.fuzz.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmiError } from '../../src/errors.js';
import { ModelLoadError } from '../../src/formats/errors.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { loadAdapter, loadModel, type ModelSource } from '../../src/formats/model-source.js';
import { loadTokenizer, type HmiTokenizer } from '../../src/formats/tokenizer.js';
import type { LoraAdapter } from '../../src/formats/types.js';
import { packTenant } from '../../src/knowledge/task/pack.js';
import type { ModelConfig } from '../../src/formats/model-config.js';
import { checkAdapter } from '../../src/model/single-lora.js';
import { makeAdapterFiles, makeBertFiles, makeGpt2Files, type ModelFiles } from '../../src/model/synthetic.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const SEED = 20261125;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const bertFiles = makeBertFiles(SHAPE);
const gpt2Files = makeGpt2Files({ nEmbd: 32, nLayer: 2, nHead: 2, nPositions: 64 });
const text = (files: ModelFiles, name: string): string => {
  const f = files[name];
  return typeof f === 'string' ? f : new TextDecoder().decode(f);
};
const bytes = (files: ModelFiles, name: string): Uint8Array => {
  const f = files[name];
  return typeof f === 'string' ? new TextEncoder().encode(f) : f;
};
const bert: ModelConfig = parseHfConfig(JSON.parse(text(bertFiles, 'config.json')));
const gpt2: ModelConfig = parseHfConfig(JSON.parse(text(gpt2Files, 'config.json')));
const bertAdapter = makeAdapterFiles(bert, { rank: 3, seed: 4, targets: ['query', 'value', 'intermediate.dense'], layers: [0, 1], numLabels: 3 });
const gpt2Adapter = makeAdapterFiles(gpt2, { rank: 2, seed: 5, targets: ['c_attn', 'c_fc'] });

/** Files served from memory, as a directory or URL source would serve them. */
function memorySource(files: Record<string, string | Uint8Array>): ModelSource {
  const read = async (name: string): Promise<Uint8Array> => {
    const f = files[name];
    if (f === undefined) throw new ModelLoadError(name, 'memory', 'no such file');
    return typeof f === 'string' ? new TextEncoder().encode(f) : f;
  };
  return {
    readBytes: read,
    readText: async (name) => new TextDecoder().decode(await read(name)),
    exists: async (name) => files[name] !== undefined,
    describe: () => 'memory',
  };
}

/** Runs `f`; an HmiError is a correct outcome, anything else thrown fails the property. */
async function namedOr<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof HmiError && typeof e.code === 'string' && e.code.length > 0) return undefined;
    throw e;
  }
}

/** An accepted adapter must be one the runtime can register and run as is. */
function expectUsableAdapter(base: ModelConfig, a: LoraAdapter): void {
  expect(a.modules.size).toBeGreaterThan(0);
  for (const m of a.modules.values()) {
    expect(m.A.length).toBe(m.r * m.inDim);
    expect(m.B.length).toBe(m.outDim * m.r);
    expect(Number.isFinite(m.scale)).toBe(true);
  }
  checkAdapter(base, a);
  packTenant('fuzz', a, { baseModelId: 'm', baseModelHash: 'h', domain: 'root' });
}

/** An accepted tokenizer must encode to ids inside its vocabulary and decode them back. */
function expectUsableTokenizer(tok: HmiTokenizer, vocabLimit: number): void {
  expect(Number.isInteger(tok.vocabSize) && tok.vocabSize > 0 && tok.vocabSize <= vocabLimit, `vocabSize ${tok.vocabSize}`).toBe(true);
  for (const sample of ['hello world', 'the river ran fast!', '\u00e9t\u00e9 \ud83d\ude00', '\ud800 lone']) {
    let ids: number[];
    try {
      ids = tok.encode(sample);
    } catch (e) {
      if (e instanceof HmiError) continue;
      throw e;
    }
    const outside = ids.filter((id) => !(Number.isInteger(id) && id >= 0 && id < tok.vocabSize));
    expect(outside, `encode(${JSON.stringify(sample)}) gave ids outside the vocabulary 0..${tok.vocabSize - 1}`).toEqual([]);
    try {
      expect(typeof tok.decode(ids)).toBe('string');
    } catch (e) {
      if (!(e instanceof HmiError)) throw e;
    }
  }
}

/** Text edits: delete, insert or replace a character, or cut the text short. */
const textEdit = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), s: fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '0', '-1', 'null', '1e999', '\\', '\u0000', 'NaN') }),
  fc.record({ kind: fc.constant('replace' as const), pos: fc.nat(), s: fc.string({ minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('cut' as const), pos: fc.nat() }),
);
type TextEdit = typeof textEdit extends fc.Arbitrary<infer T> ? T : never;

function applyTextEdits(s: string, edits: readonly TextEdit[]): string {
  let out = s;
  for (const e of edits) {
    const p = e.pos % (out.length + 1);
    if (e.kind === 'delete') out = out.slice(0, p) + out.slice(p + e.len);
    else if (e.kind === 'insert') out = out.slice(0, p) + e.s + out.slice(p);
    else if (e.kind === 'replace') out = out.slice(0, p) + e.s + out.slice(p + e.s.length);
    else out = out.slice(0, p);
  }
  return out;
}

/** Byte edits: bit flips, overwrites, and an optional truncation. */
const byteEdits = fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 6 }), fc.option(fc.nat()));
function applyByteEdits(b0: Uint8Array, [edits, cut]: [Array<[number, number, boolean]>, number | null]): Uint8Array {
  const b = b0.slice();
  for (const [pos, v, flip] of edits) {
    const i = pos % b.length;
    b[i] = flip ? b[i] ^ (1 << (v & 7)) : v;
  }
  return cut === null ? b : b.subarray(0, cut % (b.length + 1));
}

/** A JSON value to put where a config field was. */
const anyJson = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1, 2, 3, 0.5, 1e300, -0, 2 ** 53, 'bert', 'gpt2', 'LORA', 'none', 'query', '', '(', '.*', [], {}),
  fc.integer({ min: -5, max: 200 }),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Replaces (or deletes, when value is undefined) the value at a path of a JSON object. */
function setPath(root: unknown, path: readonly string[], value: unknown): unknown {
  const clone = structuredClone(root) as Record<string, unknown>;
  let node: Record<string, unknown> = clone;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]];
    if (typeof next !== 'object' || next === null) return clone;
    node = next as Record<string, unknown>;
  }
  const key = path[path.length - 1];
  if (value === undefined) delete node[key];
  else node[key] = value;
  return clone;
}

/** Every key path of a JSON object (object keys only, arrays as leaves), up to `depth`. */
function keyPaths(v: unknown, depth: number, prefix: string[] = []): string[][] {
  if (depth === 0 || typeof v !== 'object' || v === null || Array.isArray(v)) return [];
  const out: string[][] = [];
  for (const [k, child] of Object.entries(v)) {
    out.push([...prefix, k]);
    out.push(...keyPaths(child, depth - 1, [...prefix, k]));
  }
  return out;
}

describe('PEFT adapters: mutated and truncated files', () => {
  const cases = [
    { name: 'hBERT', base: bert, files: bertAdapter },
    { name: 'hGPT', base: gpt2, files: gpt2Adapter },
  ];
  for (const c of cases) {
    const configText = text(c.files, 'adapter_config.json');
    const weights = bytes(c.files, 'adapter_model.safetensors');
    const configJson = JSON.parse(configText) as unknown;
    const paths = keyPaths(configJson, 2);

    it(`${c.name}: the unmodified files load (the fuzz starts from a valid adapter)`, async () => {
      expectUsableAdapter(c.base, await loadAdapter(memorySource(c.files), c.base));
    });

    it(`${c.name}: adapter_config.json text edits and truncations`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(textEdit, { minLength: 1, maxLength: 4 }), async (edits) => {
          const files = { ...c.files, 'adapter_config.json': applyTextEdits(configText, edits) };
          const a = await namedOr(() => loadAdapter(memorySource(files), c.base));
          if (a) expectUsableAdapter(c.base, a);
        }),
        runs(600),
      );
    });

    it(`${c.name}: adapter_config.json fields replaced, removed, or patterns added`, async () => {
      const pattern = fc.dictionary(fc.oneof(fc.constantFrom('query', 'value', 'c_attn', 'layer.1', '.*', '(', 'encoder.layer.0.attention.self.query', 'h.1.mlp.c_fc'), fc.string({ maxLength: 6 })), anyJson, { maxKeys: 3 });
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths, ['rank_pattern'], ['alpha_pattern'], ['id2label'], ['labels']), fc.option(fc.oneof(anyJson, pattern), { nil: undefined }), async (path, value) => {
          const files = { ...c.files, 'adapter_config.json': JSON.stringify(setPath(configJson, path, value)) };
          const a = await namedOr(() => loadAdapter(memorySource(files), c.base));
          if (a) expectUsableAdapter(c.base, a);
        }),
        runs(600),
      );
    });

    it(`${c.name}: adapter_model.safetensors bit flips, overwrites and truncations`, async () => {
      await fc.assert(
        fc.asyncProperty(byteEdits, async (e) => {
          const files = { ...c.files, 'adapter_model.safetensors': applyByteEdits(weights, e) };
          const a = await namedOr(() => loadAdapter(memorySource(files), c.base));
          if (a) expectUsableAdapter(c.base, a);
        }),
        runs(600),
      );
    });

    it(`${c.name}: tensor names and shapes rewritten in the safetensors header`, async () => {
      const headerLen = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + headerLen))) as Record<string, unknown>;
      const data = weights.subarray(8 + headerLen);
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      const rename = fc.oneof(
        fc.constantFrom('lora_A', 'lora_B', 'lora_C', 'layer.0', 'layer.1', 'layer.7', 'h.0', 'h.9', 'bert.', 'base_model.model.', 'modules_to_save.default.', 'classifier', 'pooler.dense', '.default'),
        fc.string({ maxLength: 4 }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...names),
          fc.oneof(
            fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), cut: fc.nat({ max: 12 }), ins: rename }),
            fc.record({ kind: fc.constant('shape' as const), shape: fc.array(fc.integer({ min: -1, max: 200 }), { maxLength: 3 }) }),
            fc.record({ kind: fc.constant('drop' as const) }),
          ),
          async (name, edit) => {
            const h = structuredClone(header);
            const entry = h[name] as Record<string, unknown>;
            delete h[name];
            if (edit.kind === 'rename') {
              const p = edit.at % (name.length + 1);
              h[name.slice(0, p) + edit.ins + name.slice(p + edit.cut)] = entry;
            } else if (edit.kind === 'shape') {
              h[name] = { ...entry, shape: edit.shape };
            }
            const json = new TextEncoder().encode(JSON.stringify(h));
            const file = new Uint8Array(8 + json.length + data.length);
            new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
            file.set(json, 8);
            file.set(data, 8 + json.length);
            const a = await namedOr(() => loadAdapter(memorySource({ ...c.files, 'adapter_model.safetensors': file }), c.base));
            if (a) expectUsableAdapter(c.base, a);
          },
        ),
        runs(500),
      );
    });
  }

  it('an adapter made for another hidden size is an AdapterMismatchError against this model', async () => {
    const wide = parseHfConfig(JSON.parse(text(makeBertFiles({ ...SHAPE, hiddenSize: 48, intermediateSize: 64 }), 'config.json')));
    const files = makeAdapterFiles(wide, { rank: 2, seed: 1 });
    await expect(loadAdapter(memorySource(files), bert)).rejects.toMatchObject({ code: 'ADAPTER_MISMATCH' });
  });
});

describe('config.json: mutated and truncated', () => {
  for (const [name, files] of [
    ['hBERT', bertFiles],
    ['hGPT', gpt2Files],
  ] as const) {
    const configText = text(files, 'config.json');
    const configJson = JSON.parse(configText) as unknown;
    const paths = keyPaths(configJson, 2);

    const expectUsableConfig = (cfg: ModelConfig): void => {
      for (const k of ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'maxPositions'] as const) {
        expect(Number.isSafeInteger(cfg[k]) && cfg[k] > 0).toBe(true);
      }
      expect(cfg.hiddenSize % cfg.numHeads).toBe(0);
      expect(Number.isFinite(cfg.layerNormEps) && cfg.layerNormEps > 0).toBe(true);
    };

    it(`${name}: fields replaced or removed`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...paths), fc.option(anyJson, { nil: undefined }), (path, value) => {
          let cfg: ModelConfig;
          try {
            cfg = parseHfConfig(setPath(configJson, path, value));
          } catch (e) {
            if (e instanceof HmiError) return;
            throw e;
          }
          expectUsableConfig(cfg);
        }),
        runs(1500),
      );
    });

    it(`${name}: text edits through loadModel (JSON errors, then validation against the weights)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(textEdit, { minLength: 1, maxLength: 3 }), async (edits) => {
          const m = await namedOr(() => loadModel(memorySource({ ...files, 'config.json': applyTextEdits(configText, edits) })));
          if (m) expectUsableConfig(m.config);
        }),
        runs(300),
      );
    });
  }
});

describe('tokenizer.json: mutated and truncated', () => {
  for (const [name, files, vocab] of [
    ['hBERT WordPiece', bertFiles, bert.vocabSize],
    ['hGPT byte-level BPE', gpt2Files, gpt2.vocabSize],
  ] as const) {
    const tokText = text(files, 'tokenizer.json');
    const tokJson = JSON.parse(tokText) as Record<string, unknown>;
    const tokConfig = JSON.parse(text(files, 'tokenizer_config.json')) as unknown;
    const model = tokJson.model as Record<string, unknown>;
    const vocabKeys = Object.keys(model.vocab as Record<string, number>);
    const paths = keyPaths({ ...tokJson, model: { ...model, vocab: {}, merges: [] } }, 3);

    it(`${name}: components replaced or removed`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...paths), fc.option(anyJson, { nil: undefined }), (path, value) => {
          let tok: HmiTokenizer;
          try {
            tok = loadTokenizer(setPath(tokJson, path, value), tokConfig);
          } catch (e) {
            if (e instanceof HmiError) return;
            throw e;
          }
          expectUsableTokenizer(tok, Number.MAX_SAFE_INTEGER);
        }),
        runs(400),
      );
    });

    it(`${name}: vocabulary entries given bad ids`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(...vocabKeys), fc.oneof(fc.constantFrom(-1, 0, 1.5, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, null, '3', [] as unknown), fc.integer({ min: -3, max: vocab + 3 }))), { minLength: 1, maxLength: 3 }),
          (edits) => {
            const v = { ...(model.vocab as Record<string, unknown>) };
            for (const [k, id] of edits) v[k] = id;
            let tok: HmiTokenizer;
            try {
              tok = loadTokenizer({ ...tokJson, model: { ...model, vocab: v } }, tokConfig);
            } catch (e) {
              if (e instanceof HmiError) return;
              throw e;
            }
            expectUsableTokenizer(tok, Number.MAX_SAFE_INTEGER);
          },
        ),
        runs(300),
      );
    });

    it(`${name}: a vocabulary id of 2^31 is an error, not a hang (checked in a child process)`, () => {
      // Ids in [~1e6, 2^32-1) are array indices for the tokenizers library, which then walks
      // the whole array: loading must reject them before. The child's timeout only bounds a hang.
      const script = `
        import { loadTokenizer } from ${JSON.stringify(new URL('../../src/formats/tokenizer.ts', import.meta.url).pathname)};
        const [json, cfg] = JSON.parse(process.argv[1]);
        json.model.vocab[${JSON.stringify(vocabKeys[vocabKeys.length - 1])}] = 2 ** 31;
        try { loadTokenizer(json, cfg); console.log('loaded'); } catch (e) { console.log(e?.code ?? String(e)); }
      `;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify([tokJson, tokConfig])], { encoding: 'utf8', timeout: 15_000 });
      expect(child.signal, 'loadTokenizer hung on a vocabulary id of 2^31').toBeNull();
      expect(child.stdout.trim()).toBe('TOKENIZER');
    });

    it(`${name}: text edits through loadModel (the tokenizer must fit the model's vocabulary)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(textEdit, { minLength: 1, maxLength: 3 }), async (edits) => {
          const m = await namedOr(() => loadModel(memorySource({ ...files, 'tokenizer.json': applyTextEdits(tokText, edits) })));
          if (m) expectUsableTokenizer(m.tokenizer, m.config.vocabSize);
        }),
        runs(200),
      );
    });
  }
});
