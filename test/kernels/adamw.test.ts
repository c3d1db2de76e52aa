import { describe, expect, it } from 'vitest';
import { encodeAdamW, type AdamWArgs, type AdamWHyperparameters } from '../../src/kernels/adamw.js';
import { adamwRef, type AdamWState } from '../../src/kernels/cpu/adamw.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer, writeBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

type Hyper = Omit<AdamWHyperparameters, 'step'>;

const HYPERS: { name: string; h: Hyper }[] = [
  { name: 'torch defaults (lr 1e-3, wd 1e-2)', h: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 } },
  { name: 'lr 5e-2, no weight decay, eps 1e-6', h: { lr: 5e-2, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0 } },
  { name: 'gradScale 1/7, wd 0.1', h: { lr: 2e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradScale: 1 / 7 } },
];

interface State {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** Runs `grads.length` AdamW steps on the GPU from the given state; returns the state after them. */
async function stepsOnGpu(init: State, grads: Float32Array[], h: Hyper): Promise<State> {
  const ctx = await testContext();
  const n = init.params.length;
  const [gp, gm, gv, gg] = await Promise.all([
    uploadBuffer(ctx, init.params, 'params'),
    uploadBuffer(ctx, init.m, 'm'),
    uploadBuffer(ctx, init.v, 'v'),
    allocBuffer(ctx, n * 4, 'grads'),
  ]);
  for (const [i, g] of grads.entries()) {
    writeBuffer(ctx, gg, g);
    run(ctx, (pass) => encodeAdamW(ctx, pass, { params: gp, grads: gg, m: gm, v: gv, n, ...h, step: i + 1 }));
  }
  const out = { params: await readF32(ctx, gp, n), m: await readF32(ctx, gm, n), v: await readF32(ctx, gv, n) };
  for (const b of [gp, gm, gv, gg]) b.destroy();
  return out;
}

describe('adamw kernel', () => {
  for (const { name, h } of HYPERS) {
    for (const n of [1, 7, 1031]) {
      it(`${name}: 3 steps of n=${n} match the CPU reference`, async () => {
        const init: State = { params: randomFloats(n, n, 2), m: new Float32Array(n), v: new Float32Array(n) };
        // Gradients over several magnitudes, signs changing between steps, one exact zero.
        const grads = [1, 2, 3].map((s) => randomFloats(n, n * 10 + s, 10 ** (1 - s)).map((g, i) => (i === 3 ? 0 : g)));
        const gpu = await stepsOnGpu(init, grads, h);
        let ref: AdamWState = { params: Float64Array.from(init.params), m: new Float64Array(n), v: new Float64Array(n) };
        for (const [i, g] of grads.entries()) ref = adamwRef(ref.params, g, ref.m, ref.v, { ...h, step: i + 1 });
        expectClose(gpu.m, ref.m, 1e-5, 1e-9);
        expectClose(gpu.v, ref.v, 1e-5, 1e-12);
        expectClose(gpu.params, ref.params, 1e-6, 1e-7);
      });
    }
  }

  it('the CPU reference reproduces a hand-computed torch.optim.AdamW run (2 steps)', () => {
    const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    // Step 1, g = 0.5: p = 1 * (1 - 0.1*0.01) = 0.999; m = 0.1*0.5 = 0.05; v = 0.001*0.25 = 0.00025;
    // bc1 = 0.1, bc2 = 0.001; p -= (0.1/0.1) * 0.05 / (sqrt(0.00025)/sqrt(0.001) + 1e-8)
    //   = 0.999 - 0.05 / 0.50000001 = 0.89900000199999996...
    const s1 = adamwRef([1], [0.5], [0], [0], { ...h, step: 1 });
    expect(s1.m[0]).toBeCloseTo(0.05, 15);
    expect(s1.v[0]).toBeCloseTo(0.00025, 15);
    expect(s1.params[0]).toBeCloseTo(0.899000002, 14);
    // Step 2, g = -0.25: p = 0.89900000199999996 * 0.999 = 0.89810100199799996;
    // m = 0.9*0.05 + 0.1*(-0.25) = 0.02; v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225;
    // bc1 = 0.19, bc2 = 0.001999; denom = sqrt(0.00031225)/sqrt(0.001999) + 1e-8 = 0.39522539070166418;
    // p -= (0.1/0.19) * 0.02 / denom  ->  0.87146729870584616
    const s2 = adamwRef(s1.params, [-0.25], s1.m, s1.v, { ...h, step: 2 });
    expect(s2.m[0]).toBeCloseTo(0.02, 15);
    expect(s2.v[0]).toBeCloseTo(0.00031225, 15);
    expect(s2.params[0]).toBeCloseTo(0.87146729870584616, 14);
  });

  it('the first step without weight decay moves every parameter by lr against its gradient sign (|g| >> eps)', async () => {
    const n = 37;
    const init: State = { params: randomFloats(n, 1), m: new Float32Array(n), v: new Float32Array(n) };
    const g = randomFloats(n, 2).map((x) => x + Math.sign(x) * 0.1);
    const gpu = await stepsOnGpu(init, [g], { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    expectClose(gpu.params, Float64Array.from(init.params, (p, i) => p - 0.01 * Math.sign(g[i])), 0, 1e-7);
  });

  it('gives the same bits on every run', async () => {
    const n = 1031;
    const init: State = { params: randomFloats(n, 3), m: randomFloats(n, 4, 0.1), v: randomFloats(n, 5, 0.01).map(Math.abs) };
    const grads = [randomFloats(n, 6), randomFloats(n, 7)];
    const first = await stepsOnGpu(init, grads, HYPERS[2].h);
    const second = await stepsOnGpu(init, grads, HYPERS[2].h);
    for (const k of ['params', 'm', 'v'] as const) expect(new Uint32Array(second[k].buffer)).toEqual(new Uint32Array(first[k].buffer));
  });

  it('rejects bad arguments with ShapeError', async () => {
    const ctx = await testContext();
    const [p, g, m, v, small] = await Promise.all(['p', 'g', 'm', 'v', 'small'].map((l) => allocBuffer(ctx, l === 'small' ? 16 : 400, l)));
    const base: AdamWArgs = { params: p, grads: g, m, v, n: 100, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };
    const enc = (over: Partial<AdamWArgs>): void => run(ctx, (pass) => encodeAdamW(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ n: 0 });
    // m and v as two ranges of one buffer: both written, which WebGPU allows.
    enc({ n: 4, m: { buffer: m, offset: 0, size: 16 }, v: { buffer: m, offset: 256, size: 16 } });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ step: 0 })).toThrow(ShapeError);
    expect(() => enc({ step: 1.5 })).toThrow(ShapeError);
    expect(() => enc({ beta1: 1 })).toThrow(/beta1 out of range/);
    expect(() => enc({ beta2: -0.1 })).toThrow(ShapeError);
    expect(() => enc({ lr: Number.NaN })).toThrow(ShapeError);
    expect(() => enc({ eps: -1 })).toThrow(ShapeError);
    expect(() => enc({ weightDecay: Number.POSITIVE_INFINITY })).toThrow(ShapeError);
    expect(() => enc({ gradScale: Number.NaN })).toThrow(ShapeError);
    expect(() => enc({ n: 101 })).toThrow(/holds 100 elements, needs 101/);
    expect(() => enc({ v: small })).toThrow(ShapeError);
    expect(() => enc({ params: g })).toThrow(/different GPUBuffer/);
    expect(() => enc({ m: g })).toThrow(/different GPUBuffer/);
    for (const b of [p, g, m, v, small]) b.destroy();
  });
});
