/**
 * Bad input at the runtime's front door: adapters with NaN/Inf or wrong shapes, unknown and
 * odd tenant ids, empty and over-long inputs, invalid UTF-8 and lone surrogates, token ids
 * out of range, and concurrent add/remove of one tenant id. Every case ends in a named
 * error (an HmiError with a code) or a correct result; stored data is unchanged; the other
 * tenants keep being served with bit-identical outputs.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HmiError } from '../../src/errors.js';
import { type HmiRuntime } from '../../src/runtime/runtime.js';
import { createRuntime } from '../../src/create-runtime.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import type { TenantStore } from '../../src/knowledge/task/store.js';
import { syntheticTenant } from '../../src/runtime/synthetic-tenants.js';
import { InvalidInputError, UnknownTenantError } from '../../src/runtime/errors.js';
import type { ClassifyResult, ModelInput, TenantSpec } from '../../src/runtime/api.js';
import type { LoraAdapter, LoraModule } from '../../src/formats/types.js';
import { writeBertDir } from '../helpers/models.js';

const SHAPE = { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 };
const TEXTS = ['the river ran fast', 'a cold clear morning', 'old stone bridge', 'we walked home'];

let dir: string;
let gpu: GPU;
let rt: HmiRuntime;
let store: MemoryTenantStore;
let good: TenantSpec[];
/** Outputs of the good tenants before any bad input, per tenant, for TEXTS[0]. */
let reference: ClassifyResult[];

beforeAll(async () => {
  dir = await writeBertDir(SHAPE);
  gpu = await nodeGpu();
  store = new MemoryTenantStore();
  rt = (await createRuntime({ gpu, model: dir, store })) as HmiRuntime;
  good = Array.from({ length: 4 }, (_, i) => syntheticTenant(rt.config, rt.split, i, { count: 4, seed: 11, prefix: 'good-' }));
  await rt.tenants.add(good);
  reference = [];
  for (const s of good) reference.push(await rt.classify(s.id, TEXTS[0]));
});
afterAll(async () => rt?.dispose());

/** The rejection of `p`, which must be an HmiError with a code (fails the test on success). */
async function named(p: Promise<unknown>): Promise<HmiError> {
  const r = await p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (r.ok) throw new Error(`expected a named error, got a result: ${JSON.stringify(r.v).slice(0, 200)}`);
  expect(r.e).toBeInstanceOf(HmiError);
  expect((r.e as HmiError).code).toMatch(/^[A-Z_]+$/);
  return r.e as HmiError;
}

/** Every stored record, bytes included: "stored data is unchanged" compares two of these. */
async function snapshot(s: TenantStore): Promise<Map<string, { meta: string; payload: Uint8Array }>> {
  const out = new Map<string, { meta: string; payload: Uint8Array }>();
  for (const m of await s.list()) {
    const r = await s.get(m.id);
    if (r) out.set(m.id, { meta: JSON.stringify(r.meta), payload: new Uint8Array(r.payload) });
  }
  return out;
}

/** The good tenants, all in one batch, still give their reference outputs bit for bit. */
async function othersStillServed(): Promise<void> {
  const got = await Promise.all(good.map((s) => rt.classify(s.id, TEXTS[0])));
  got.forEach((g, i) => expect(g.scores).toEqual(reference[i].scores));
}

function withModule(a: LoraAdapter, path: string, f: (m: LoraModule) => LoraModule): LoraAdapter {
  const modules = new Map(a.modules);
  modules.set(path, f(a.modules.get(path) as LoraModule));
  return { ...a, modules };
}

function poisoned(base: TenantSpec, value: number, where: 'A' | 'B' | 'head' | 'bias' | 'scale'): TenantSpec {
  const path = [...base.adapter.modules.keys()][0];
  if (where === 'head' || where === 'bias') {
    const name = where === 'head' ? 'classifier.weight' : 'classifier.bias';
    const head = new Map(base.adapter.head);
    const t = head.get(name)!;
    const data = t.data.slice();
    data[data.length >> 1] = value;
    head.set(name, { shape: t.shape, data });
    return { id: base.id, adapter: { ...base.adapter, head } };
  }
  return {
    id: base.id,
    adapter: withModule(base.adapter, path, (m) => {
      if (where === 'scale') return { ...m, scale: value };
      const arr = (where === 'A' ? m.A : m.B).slice();
      arr[arr.length - 1] = value;
      return where === 'A' ? { ...m, A: arr } : { ...m, B: arr };
    }),
  };
}

describe('adapters rejected at registration, store unchanged, others served', () => {
  it('NaN / Infinity anywhere in the weights, alone, in a list, or replacing a registered tenant', async () => {
    const before = await snapshot(store);
    const fresh = syntheticTenant(rt.config, rt.split, 9, { count: 10, seed: 11, prefix: 'new-' });
    for (const where of ['A', 'B', 'head', 'bias', 'scale'] as const) {
      for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        await named(rt.tenants.add(poisoned(fresh, v, where)));
        // A bad tenant in a list stores nothing, not even the good ones before it.
        await named(rt.tenants.add([syntheticTenant(rt.config, rt.split, 5, { count: 10, seed: 11, prefix: 'new-' }), poisoned(fresh, v, where)]));
        // Re-registering a good tenant with a poisoned adapter keeps the old one.
        await named(rt.tenants.add(poisoned(good[1], v, where)));
      }
    }
    expect(await snapshot(store)).toEqual(before);
    expect((await rt.tenants.list()).map((t) => t.id).sort()).toEqual(good.map((s) => s.id).sort());
    await othersStillServed();
  });

  it('wrong shapes: another hidden size, layers the model lacks, ranks and lengths that disagree', async () => {
    const before = await snapshot(store);
    const wideRt = { ...rt.config, hiddenSize: 48, intermediateSize: 64 };
    const wide = syntheticTenant(wideRt, rt.split, 0, { count: 1, prefix: 'wide-' });
    const base = good[2].adapter;
    const path = [...base.modules.keys()][0];
    const bad: LoraAdapter[] = [
      wide.adapter,
      { ...base, modules: new Map([['encoder.layer.7.attention.self.query', base.modules.get(path)!]]) },
      { ...base, modules: new Map([['embeddings.word_embeddings', base.modules.get(path)!]]) },
      withModule(base, path, (m) => ({ ...m, r: 0 })),
      withModule(base, path, (m) => ({ ...m, r: 1.5 })),
      withModule(base, path, (m) => ({ ...m, r: -2 })),
      withModule(base, path, (m) => ({ ...m, A: m.A.subarray(1) })),
      withModule(base, path, (m) => ({ ...m, B: new Float32Array(m.B.length + 1) })),
      withModule(base, path, (m) => ({ ...m, inDim: m.inDim + 1 })),
      { ...base, head: new Map([['classifier.weight', { shape: [3, 31], data: new Float32Array(93) }]]) },
      { ...base, head: new Map([['classifier.weight', { shape: [2, 32], data: new Float32Array(64) }], ['classifier.bias', { shape: [3], data: new Float32Array(3) }]]) },
      { ...base, head: new Map([['classifier.weight', { shape: [-2, -32], data: new Float32Array(64) }]]) },
      { ...base, head: new Map([['classifier.weight', { shape: [2, 32], data: new Float32Array(63) }]]) },
      { ...base, labels: ['only one'] },
    ];
    for (const adapter of bad) {
      await named(rt.tenants.add({ id: 'shape-bad', adapter }));
      await named(rt.tenants.add({ id: good[3].id, adapter }));
    }
    expect(await snapshot(store)).toEqual(before);
    await othersStillServed();
  });

  it('odd tenant ids: empty, too long, not a string, or names of Object.prototype', async () => {
    const adapter = good[0].adapter;
    for (const id of ['', 'x'.repeat(257), 42 as unknown as string, null as unknown as string]) {
      expect(await named(rt.tenants.add({ id, adapter }))).toBeInstanceOf(InvalidInputError);
    }
    await named(rt.tenants.add([{ id: 'twice', adapter }, { id: 'twice', adapter }]));
    for (const id of ['__proto__', 'constructor', 'toString', 'nobody', 'good-0 ', 'GOOD-0']) {
      expect(await named(rt.classify(id, 'hello'))).toBeInstanceOf(UnknownTenantError);
      expect(await named(rt.embed(id, 'hello'))).toBeInstanceOf(UnknownTenantError);
      expect(await named(rt.tenants.remove(id))).toBeInstanceOf(UnknownTenantError);
    }
    // Ids that are odd but legal work like any other.
    for (const id of ['__proto__', 'a/b\\c:..', '\u{1F600}\u00e9', ' ']) {
      await rt.tenants.add({ id, adapter });
      expect((await rt.classify(id, TEXTS[0])).scores).toEqual(reference[0].scores);
      await rt.tenants.remove(id);
    }
    await othersStillServed();
  });
});

describe('request inputs', () => {
  const vocab = (): number => rt.config.vocabSize;
  const maxPos = (): number => rt.config.maxPositions;

  it('empty, blank, too long (text and ids), and the longest accepted input', async () => {
    const id = good[0].id;
    for (const input of ['', ' ', '\n\t  ', [], 'word '.repeat(200), 'ab '.repeat(20_000), Array.from({ length: maxPos() + 1 }, () => 7)] as ModelInput[]) {
      expect(await named(rt.classify(id, input))).toBeInstanceOf(InvalidInputError);
      expect(await named(rt.embed(id, input))).toBeInstanceOf(InvalidInputError);
    }
    const longest = Array.from({ length: maxPos() }, (_, i) => 5 + (i % 50));
    const r = await rt.classify(id, longest);
    expect(r.tokens).toBe(maxPos());
    expect(r.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const e = await rt.embed(id, longest);
    expect(e.shape).toEqual([maxPos(), rt.config.hiddenSize]);
    expect(e.hidden.every(Number.isFinite)).toBe(true);
    await othersStillServed();
  });

  it('token ids out of range, negative, fractional, not numbers; inputs of the wrong type', async () => {
    const id = good[1].id;
    const bad: unknown[] = [
      [vocab()],
      [1, 2, vocab() + 5],
      [-1],
      [1.5],
      [Number.NaN],
      [Number.POSITIVE_INFINITY],
      [2 ** 32],
      ['3'],
      [null],
      [undefined],
      [1, , 3], // eslint-disable-line no-sparse-arrays
      [{}],
      [[1]],
      [1n],
      new Int32Array([1, 2, 3]),
      42,
      null,
      undefined,
      { length: 2, 0: 1, 1: 2 },
      Symbol('x'),
    ];
    for (const input of bad) {
      expect(await named(rt.classify(id, input as ModelInput))).toBeInstanceOf(InvalidInputError);
    }
    await othersStillServed();
  });

  it('random token id arrays: a correct result exactly when every id is valid', async () => {
    const id = good[2].id;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 40, arbitrary: fc.integer({ min: 0, max: vocab() - 1 }) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -3, max: vocab() + 3 }), fc.double()) }), { maxLength: maxPos() + 3 }), async (ids) => {
        const valid = ids.length > 0 && ids.length <= maxPos() && ids.every((v) => Number.isInteger(v) && v >= 0 && v < vocab());
        const p = rt.classify(id, ids);
        if (!valid) {
          expect(await named(p)).toBeInstanceOf(InvalidInputError);
          return;
        }
        const r = await p;
        expect(r.scores.every(Number.isFinite)).toBe(true);
        expect(r.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }),
      { seed: 20261125, numRuns: 40 },
    );
  });

  it('text with lone surrogates, invalid UTF-8 decoded to U+FFFD, control characters, random code units', async () => {
    const id = good[3].id;
    const invalidUtf8 = new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x62, 0xf0, 0x28, 0x8c, 0xbc]));
    const texts = ['\ud800', 'a\udc00b', '\udfff\ud800 river', invalidUtf8, '\u0000\u0001\u001f', '\u200b\u200b', '\ufeff', '\u{10FFFF}', 'e\u0301'.repeat(20), '\u202e evil'];
    const check = async (t: string): Promise<void> => {
      const p = rt.classify(id, t);
      const r = await p.then(
        (v) => v,
        (e: unknown) => e,
      );
      if (r instanceof Error) {
        expect(r).toBeInstanceOf(HmiError);
        return;
      }
      const c = r as ClassifyResult;
      expect(c.tokens).toBeGreaterThan(0);
      expect(c.scores.every(Number.isFinite)).toBe(true);
      expect(c.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    };
    for (const t of texts) await check(t);
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (t) => check(t)),
      { seed: 20261125, numRuns: 40 },
    );
    // The same text always gives the same answer (a lone surrogate is not random garbage).
    expect((await rt.classify(id, 'a\udc00b')).scores).toEqual((await rt.classify(id, 'a\udc00b')).scores);
    await othersStillServed();
  });
});

describe('concurrent add / remove of the same tenant id', () => {
  it('ends consistent; every request succeeds with one complete adapter or fails with UnknownTenantError', async () => {
    const id = 'flappy';
    // Two versions with different heads (2 and 4 labels) and ranks; their solo outputs are the references.
    const v = [
      syntheticTenant(rt.config, rt.split, 0, { count: 2, seed: 21, ranks: [2], numLabels: 2 }),
      syntheticTenant(rt.config, rt.split, 1, { count: 2, seed: 22, ranks: [8], numLabels: 4 }),
    ];
    const expected: string[][] = [];
    for (let k = 0; k < 2; k++) {
      await rt.tenants.add({ id: `ref-${k}`, adapter: v[k].adapter });
      expected.push(await Promise.all(TEXTS.map(async (t) => (await rt.classify(`ref-${k}`, t)).scores.join(','))));
    }
    const before = await snapshot(store);
    const rng = fc.sample(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 60, maxLength: 60 }), { seed: 20261125, numRuns: 1 })[0];
    const ops: Promise<unknown>[] = [];
    const requests: Promise<{ text: number; r: ClassifyResult } | { text: number; e: unknown }>[] = [];
    let last: number | 'removed' = 'removed';
    for (let i = 0; i < rng.length; i++) {
      const op = rng[i];
      if (op <= 1) {
        ops.push(rt.tenants.add({ id, adapter: v[op].adapter }));
        last = op;
      } else if (op === 2) {
        // Removing an absent tenant is an UnknownTenantError; any other failure is a bug.
        ops.push(rt.tenants.remove(id).catch((e: unknown) => expect(e).toBeInstanceOf(UnknownTenantError)));
        last = 'removed';
      } else {
        const text = i % TEXTS.length;
        requests.push(
          rt.classify(id, TEXTS[text]).then(
            (r) => ({ text, r }),
            (e: unknown) => ({ text, e }),
          ),
        );
      }
      // Let some operations start before the next ones are issued.
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(ops);
    // Every request's outcome, so one run reports every kind of wrong answer at once.
    const wrong: string[] = [];
    let served = 0;
    for (const out of await Promise.all(requests)) {
      if ('e' in out) {
        if (!(out.e instanceof UnknownTenantError)) wrong.push(`${(out.e as Error).name}: ${(out.e as Error).message}`);
        continue;
      }
      served++;
      const got = out.r.scores.join(',');
      if (got !== expected[0][out.text] && got !== expected[1][out.text]) wrong.push(`scores ${got} (label ${out.r.label}) are neither version's output`);
      else if (!(out.r.scores.length === 2 ? v[0].adapter.labels : v[1].adapter.labels)?.includes(out.r.label)) wrong.push(`label ${out.r.label} is not a label of the version that computed the scores`);
    }
    expect(wrong).toEqual([]);
    // Requests still queued when the final removal lands end with UnknownTenantError, so only a
    // tenant that ends registered must have served some.
    if (last !== 'removed') expect(served).toBeGreaterThan(0);
    // Final state: the last operation wins, in the registry, in the store and in the outputs.
    const listed = (await rt.tenants.list()).find((t) => t.id === id);
    const stored = await store.get(id);
    if (last === 'removed') {
      expect(listed).toBeUndefined();
      expect(stored).toBeUndefined();
      expect(await named(rt.classify(id, TEXTS[0]))).toBeInstanceOf(UnknownTenantError);
    } else {
      expect(listed?.numLabels).toBe(last === 0 ? 2 : 4);
      expect(stored?.meta.numLabels).toBe(last === 0 ? 2 : 4);
      expect((await rt.classify(id, TEXTS[0])).scores.join(',')).toBe(expected[last][0]);
    }
    const after = await snapshot(store);
    after.delete(id);
    expect(after).toEqual(before);
    await othersStillServed();
  });
});
