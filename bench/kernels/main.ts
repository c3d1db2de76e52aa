// Kernel micro-benchmark page (llm.c habit: every variant side by side). Times each of our
// matmul variants and tfjs-backend-webgpu's tf.matMul on the same shapes in one page, with the
// same clock: submit, then wait for the result to be read back (tfjs only finishes in data()).
// Rounds interleave all contenders, so load on a shared machine hits them alike.
// Publishes window.__benchResult for scripts/bench.mjs.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { createGpuContext, type GpuContext } from '../../src/gpu/device.js';
import { allocBuffer, readF32, uploadBuffer } from '../../src/gpu/buffers.js';
import { run } from '../../src/gpu/dispatch.js';
import { autotuneMatmul } from '../../src/kernels/matmul-autotune.js';
import { encodeMatmul, MATMUL_VARIANTS, matmulShapeClass, type MatmulShape, type MatmulVariant } from '../../src/kernels/matmul.js';

export interface KernelBenchRow {
  shape: string;
  variant: MatmulVariant;
  gflops: number;
  tfjsGflops: number;
  /** encodeMatmul's choice for this shape after the autotune. */
  autotuned: boolean;
}

export interface KernelBenchResult {
  adapter: string;
  rows: KernelBenchRow[];
}

declare global {
  interface Window {
    __benchResult?: { ok: true; result: KernelBenchResult } | { ok: false; error: string };
  }
}

const SHAPES: MatmulShape[] = [
  { M: 256, N: 256, K: 256, wLayout: 'kn' },
  { M: 512, N: 512, K: 512, wLayout: 'kn' },
  // BERT-tiny-like projections: nn.Linear [out, in] and a Conv1D-style [in, out].
  { M: 128, N: 384, K: 128, wLayout: 'nk' },
  { M: 64, N: 128, K: 512, wLayout: 'kn' },
];
const ROUNDS = 5;

const shapeName = (s: MatmulShape): string => `M=${s.M} N=${s.N} K=${s.K} ${s.wLayout}`;
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const log = (msg: string): void => {
  console.log(`[bench] ${msg}`);
  const status = document.getElementById('status');
  if (status) status.textContent = msg;
};

function randomData(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
}

async function benchShape(ctx: GpuContext, s: MatmulShape, choice: MatmulVariant): Promise<KernelBenchRow[]> {
  const xData = randomData(s.M * s.K, 1);
  const wData = randomData(s.K * s.N, 2);
  const [x, w, y] = await Promise.all([uploadBuffer(ctx, xData, 'x'), uploadBuffer(ctx, wData, 'w'), allocBuffer(ctx, s.M * s.N * 4, 'y')]);
  const a = tf.tensor2d(xData, [s.M, s.K]);
  const b = tf.tensor2d(wData, s.wLayout === 'kn' ? [s.K, s.N] : [s.N, s.K]);

  const ours = (variant: MatmulVariant) => async (): Promise<void> => {
    run(ctx, (pass) => encodeMatmul(ctx, pass, { ...s, x, w, y, variant }));
    await readF32(ctx, y, s.M * s.N);
  };
  const tfjs = async (): Promise<void> => {
    const c = tf.matMul(a, b, false, s.wLayout === 'nk');
    await c.data();
    c.dispose();
  };
  const contenders: [string, () => Promise<void>][] = [['tfjs', tfjs], ...MATMUL_VARIANTS.map((v): [string, () => Promise<void>] => [v, ours(v)])];
  const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  try {
    for (const [, fn] of contenders) await fn(); // warm-up: shader compilation, buffer pools
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of contenders) {
        const t0 = performance.now();
        await fn();
        samples.get(name)?.push(performance.now() - t0);
      }
    }
  } finally {
    for (const buf of [x, w, y]) buf.destroy();
    a.dispose();
    b.dispose();
  }
  const gflops = (name: string): number => (2 * s.M * s.N * s.K) / median(samples.get(name) ?? [NaN]) / 1e6;
  const tfjsGflops = gflops('tfjs');
  return MATMUL_VARIANTS.map((variant) => ({ shape: shapeName(s), variant, gflops: gflops(variant), tfjsGflops, autotuned: variant === choice }));
}

async function main(): Promise<KernelBenchResult> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its webgpu backend');
  await tf.ready();
  const ctx = await createGpuContext(navigator.gpu, { label: 'bench' });
  // The table compares the tuned variants: no load-time budget here.
  const choices = await autotuneMatmul(ctx, SHAPES, {
    budgetMs: Infinity,
    onProgress: (p) => log(`autotune ${p.done}/${p.total}: ${p.shapeClass} ${p.variant} ${p.timed ? `${p.ms.toFixed(1)} ms` : 'skipped'}`),
  });
  const rows: KernelBenchRow[] = [];
  for (const s of SHAPES) {
    log(`timing ${shapeName(s)}`);
    rows.push(...(await benchShape(ctx, s, choices[matmulShapeClass(s)])));
  }
  const table = document.getElementById('table');
  if (table) table.textContent = JSON.stringify(rows, null, 2);
  ctx.destroy();
  return { adapter: `${ctx.adapterInfo.vendor} ${ctx.adapterInfo.architecture}`.trim(), rows };
}

main().then(
  (result) => {
    log('done');
    window.__benchResult = { ok: true, result };
  },
  (err: unknown) => {
    log(`failed: ${String(err)}`);
    window.__benchResult = { ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) };
  },
);
