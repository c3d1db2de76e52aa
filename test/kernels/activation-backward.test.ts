import { describe, expect, it } from 'vitest';
import { encodeActivationBackward, type ActivationBackwardArgs, type BackwardActivation } from '../../src/kernels/activation-backward.js';
import { activationBackwardRef, activationDerivative, activationRef } from '../../src/kernels/cpu/activation-backward.js';
import { run } from '../../src/gpu/dispatch.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { ShapeError } from '../../src/errors.js';
import { expectClose, randomFloats, testContext } from '../helpers/gpu.js';

const ACTIVATIONS: BackwardActivation[] = ['gelu_erf', 'gelu_tanh', 'tanh'];

/** Wide random inputs, with the points where the forms switch branches or saturate spliced in. */
function inputsX(n: number, seed: number): Float32Array {
  const special = [0, -0, 1e-4, -1e-4, 0.05, -0.0625, 1, -1, 3, -3, 6, -6, 10, -10, 20, -20, 44, -44, 90, -90];
  const x = randomFloats(n, seed, 8);
  for (let i = 0; i < Math.min(n, special.length); i++) x[(i * 7919) % n] = special[i];
  return x;
}

async function onGpu(x: Float32Array, dy: Float32Array, dx0: Float32Array, activation: BackwardActivation, accumulate = false): Promise<Float32Array> {
  const ctx = await testContext();
  const n = x.length;
  const [gx, gdy, gdx] = await Promise.all([uploadBuffer(ctx, x, 'x'), uploadBuffer(ctx, dy, 'dy'), uploadBuffer(ctx, dx0, 'dx')]);
  run(ctx, (pass) => encodeActivationBackward(ctx, pass, { x: gx, dy: gdy, dx: gdx, n, activation, accumulate }));
  const dx = await readF32(ctx, gdx, n);
  for (const b of [gx, gdy, gdx]) b.destroy();
  return dx;
}

describe('activation_backward kernel', () => {
  for (const activation of ACTIVATIONS) {
    for (const n of [1, 5, 37, 257, 4099]) {
      it(`${activation}: matches the CPU reference for n=${n}`, async () => {
        const x = inputsX(n, n);
        const dy = randomFloats(n, n + 1, 2);
        const dx0 = randomFloats(n, n + 2);
        // Garbage in dx: without accumulate every element is overwritten.
        expectClose(await onGpu(x, dy, dx0.map(() => 7), activation), activationBackwardRef(x, dy, activation), 1e-5, 1e-6);
        expectClose(await onGpu(x, dy, dx0, activation, true), activationBackwardRef(x, dy, activation, dx0), 1e-5, 1e-6);
      });
    }

    it(`${activation}: f' on a dense grid of [-12, 12] within 1e-6 of the f64 derivative`, async () => {
      const n = 4801;
      const x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
      const dx = await onGpu(x, new Float32Array(n).fill(1), new Float32Array(n), activation);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(dx[i] - activationDerivative(x[i], activation)));
      expect(worst).toBeLessThan(1e-6);
    });

    it(`${activation}: gives the same bits on every run`, async () => {
      const n = 4099;
      const x = inputsX(n, 11);
      const dy = randomFloats(n, 12);
      const zero = new Float32Array(n);
      const first = await onGpu(x, dy, zero, activation);
      const second = await onGpu(x, dy, zero, activation);
      expect(new Uint32Array(second.buffer)).toEqual(new Uint32Array(first.buffer));
    });

    it(`${activation}: its CPU derivative matches central differences of the f64 forward`, () => {
      const h = 1e-5;
      const xs = [...Array.from(inputsX(257, 13)).filter((v) => Math.abs(v) < 15), -2.5, -0.7, 0.3, 1.7];
      for (const v of xs) {
        const fd = (activationRef(v + h, activation) - activationRef(v - h, activation)) / (2 * h);
        const an = activationDerivative(v, activation);
        if (Math.abs(fd - an) > 1e-9 + 1e-6 * Math.abs(an)) throw new Error(`x=${v}: finite difference ${fd}, analytic ${an}`);
      }
    });
  }

  it('rejects bad arguments with ShapeError', async () => {
    const ctx = await testContext();
    const small = await allocBuffer(ctx, 16, 'small');
    const big = await allocBuffer(ctx, 4096, 'big');
    const dx = await allocBuffer(ctx, 4096, 'dx');
    const base: ActivationBackwardArgs = { x: big, dy: big, dx, n: 100, activation: 'gelu_erf' };
    const enc = (over: Partial<ActivationBackwardArgs>): void => run(ctx, (pass) => encodeActivationBackward(ctx, pass, { ...base, ...over }));
    ctx.device.pushErrorScope('validation');
    enc({});
    enc({ n: 0 });
    enc({ activation: 'tanh', accumulate: true });
    expect(await ctx.device.popErrorScope()).toBeNull();
    expect(() => enc({ n: -1 })).toThrow(ShapeError);
    expect(() => enc({ n: 2000 })).toThrow(ShapeError);
    expect(() => enc({ dy: small })).toThrow(ShapeError);
    expect(() => enc({ activation: 'relu' as BackwardActivation })).toThrow(/unknown activation relu/);
    expect(() => enc({ dx: big })).toThrow(/different GPUBuffer/);
    for (const b of [small, big, dx]) b.destroy();
  });
});
