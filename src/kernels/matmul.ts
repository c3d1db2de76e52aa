import geluPrelude from '../../shaders/gelu_prelude.wgsl?raw';
import epilogue from '../../shaders/matmul_epilogue.wgsl?raw';
import naiveCode from '../../shaders/matmul_naive.wgsl?raw';
import tiledCode from '../../shaders/matmul_tiled.wgsl?raw';
import rb4x4Code from '../../shaders/matmul_rb4x4.wgsl?raw';
import rb4x4Vec4Code from '../../shaders/matmul_rb4x4_vec4.wgsl?raw';
import rb4x4Prelude from '../../shaders/matmul_rb4x4_prelude.wgsl?raw';
import { dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec, type OverrideConstants } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { weightBytes, weightKernels, weightRead, type WeightDtype, type WeightRead } from './weight-read.js';

export type MatmulVariant = 'naive' | 'tiled' | 'rb4x4';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['naive', 'tiled', 'rb4x4'];

export type WeightLayout = 'kn' | 'nk';
export type MatmulActivation = 'none' | 'gelu_erf' | 'gelu_tanh';

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  wLayout: WeightLayout;
}

export interface MatmulArgs extends MatmulShape {
  /** [M, K] row-major f32. */
  x: BufferRef;
  /** 'kn': [K, N] (GPT-2 Conv1D); 'nk': [N, K] (nn.Linear, PEFT lora_A/lora_B). */
  w: BufferRef;
  /** How w holds its elements (default f32); f16 is widened to f32 as it is read. */
  wDtype?: WeightDtype;
  /** Force one of the dtype's reads (default: native f16 where the device has it). */
  wRead?: WeightRead;
  /**
   * y's row stride (default N) and the first column of y and bias this dispatch writes
   * (default 0): one row shard of an 'nk' weight fills columns col0..col0+N-1 of a wider y.
   */
  ldy?: number;
  col0?: number;
  /** [N] */
  bias?: BufferRef;
  /** [M, N]; must not share a GPUBuffer with x, w or bias. */
  y: BufferRef;
  /** y = alpha * (x @ W) + bias; default 1. */
  alpha?: number;
  /** Add onto y instead of overwriting it (LoRA deltas, residuals). */
  accumulate?: boolean;
  /** Applied after the bias, before the accumulation. */
  activation?: MatmulActivation;
  /** Default: the autotuned choice for this context and shape class, else defaultMatmulVariant(). */
  variant?: MatmulVariant;
}

const BINDINGS = ['uniform', 'read', 'read', 'read', 'storage'] as const;
const kernel = (name: string, code: string): Record<WeightRead, KernelSpec> => weightKernels(name, BINDINGS, geluPrelude, epilogue, code);

/** Each variant in its three weight reads (f32, f16 packed, f16 native), one source apiece. */
export const matmulKernels = {
  naive: kernel('matmul_naive', naiveCode),
  tiled: kernel('matmul_tiled', tiledCode),
  rb4x4: kernel('matmul_rb4x4', composeWgsl(rb4x4Prelude, rb4x4Code)),
  rb4x4Vec4: kernel('matmul_rb4x4_vec4', composeWgsl(rb4x4Prelude, rb4x4Vec4Code)),
} as const;

const ACTIVATIONS: Record<MatmulActivation, number> = { none: 0, gelu_erf: 1, gelu_tanh: 2 };

/**
 * Autotune key: weight layout and the rounded log2 of N and K. Not M: a projection runs one
 * variant whatever the batch's row count. (Every variant adds in the same order, so no choice
 * changes an answer's bits; keying on M would only multiply the classes to time.)
 */
export function matmulShapeClass(s: MatmulShape): string {
  const l = (n: number): number => Math.round(Math.log2(n));
  return `${s.wLayout}:n${l(s.N)}:k${l(s.K)}`;
}

const choiceTables = new WeakMap<GpuContext, Map<string, MatmulVariant>>();

/** The per-context table of autotuned variants by shape class, filled by ./matmul-autotune.ts. */
export function matmulChoiceTable(ctx: GpuContext): Map<string, MatmulVariant> {
  let t = choiceTables.get(ctx);
  if (!t) {
    t = new Map();
    choiceTables.set(ctx, t);
  }
  return t;
}

export function isMatmulVariant(v: unknown): v is MatmulVariant {
  return typeof v === 'string' && (MATMUL_VARIANTS as readonly string[]).includes(v);
}

/**
 * Before (or without) an autotune: CPU-emulated Vulkan drivers run register-blocked tiles
 * several times faster than anything using workgroup memory; real GPUs prefer the latter.
 */
export function defaultMatmulVariant(ctx: GpuContext): MatmulVariant {
  const i = ctx.adapterInfo;
  const desc = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software/.test(desc) ? 'rb4x4' : 'tiled';
}

interface Plan {
  spec: KernelSpec;
  constants: OverrideConstants;
  workgroups: [number, number];
}

function plan(variant: MatmulVariant, s: MatmulShape, read: WeightRead): Plan {
  const KN = s.wLayout === 'kn' ? 1 : 0;
  const div = (a: number, b: number): number => Math.ceil(a / b);
  switch (variant) {
    case 'naive':
      return { spec: matmulKernels.naive[read], constants: { KN }, workgroups: [div(s.N, 16), div(s.M, 16)] };
    case 'tiled':
      return { spec: matmulKernels.tiled[read], constants: { KN }, workgroups: [div(s.N, 64), div(s.M, 64)] };
    case 'rb4x4': {
      const vec4 = s.K % 4 === 0 && (s.wLayout === 'nk' || s.N % 4 === 0);
      // With at most one row of blocks (GEMV-like, e.g. decode), an 8x8 workgroup would idle 7/8 of itself.
      const [WGX, WGY] = s.M <= 4 ? [64, 1] : [8, 8];
      return {
        spec: vec4 ? matmulKernels.rb4x4Vec4[read] : matmulKernels.rb4x4[read],
        constants: { KN, WGX, WGY },
        workgroups: [div(div(s.N, 4), WGX), div(div(s.M, 4), WGY)],
      };
    }
  }
}

function refBuffer(ref: BufferRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}

/** Bytes visible through a binding, or undefined when the buffer does not say. */
function refBytes(ref: BufferRef): number | undefined {
  const buffer = refBuffer(ref);
  if (typeof buffer.size !== 'number') return undefined;
  if ('buffer' in ref) return ref.size ?? buffer.size - (ref.offset ?? 0);
  return buffer.size;
}

/** Throws a ShapeError unless M, N, K are positive integers and wLayout is 'kn' or 'nk'. */
export function validateMatmulShape(s: MatmulShape): void {
  for (const d of ['M', 'N', 'K'] as const) {
    const v = s[d];
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`matmul: ${d} must be a positive integer, got ${v}`);
  }
  if (s.wLayout !== 'kn' && s.wLayout !== 'nk') throw new ShapeError(`matmul: wLayout must be 'kn' or 'nk', got ${String(s.wLayout)}`);
}

function validate(a: MatmulArgs): void {
  validateMatmulShape(a);
  if (a.variant !== undefined && !isMatmulVariant(a.variant)) {
    throw new ShapeError(`matmul: unknown variant ${String(a.variant)} (expected one of ${MATMUL_VARIANTS.join(', ')})`);
  }
  if (a.activation !== undefined && !(a.activation in ACTIVATIONS)) {
    throw new ShapeError(`matmul: unknown activation ${String(a.activation)} (expected none, gelu_erf or gelu_tanh)`);
  }
  if (a.alpha !== undefined && !Number.isFinite(a.alpha)) throw new ShapeError(`matmul: alpha must be finite, got ${a.alpha}`);
  const { M, N, K } = a;
  const ldy = a.ldy ?? N;
  const col0 = a.col0 ?? 0;
  if (!Number.isInteger(ldy) || !Number.isInteger(col0) || col0 < 0 || col0 + N > ldy) {
    throw new ShapeError(`matmul: columns ${col0}..${col0 + N} must lie inside y's row stride ${ldy}`);
  }
  const wShape = a.wLayout === 'kn' ? `[K=${K}, N=${N}]` : `[N=${N}, K=${K}]`;
  const wDtype = a.wDtype ?? 'f32';
  const need: [string, BufferRef | undefined, number, string, number][] = [
    ['x', a.x, M * K, `[M=${M}, K=${K}] f32`, 4],
    ['w', a.w, K * N, `${wShape} ${wDtype}`, weightBytes(wDtype)],
    ['bias', a.bias, col0 + N, `[N=${col0 + N}] f32`, 4],
    ['y', a.y, (M - 1) * ldy + col0 + N, ldy === N ? `[M=${M}, N=${N}] f32` : `[M=${M}, ldy=${ldy}] f32`, 4],
  ];
  for (const [name, ref, count, shape, size] of need) {
    if (!ref) continue;
    const bytes = refBytes(ref);
    if (bytes !== undefined && bytes < count * size) {
      throw new ShapeError(`matmul: ${name} must hold ${shape} = ${count * size} bytes, its binding has ${bytes}`);
    }
  }
  const y = refBuffer(a.y);
  for (const [name, ref] of [['x', a.x], ['w', a.w], ['bias', a.bias]] as const) {
    if (ref && refBuffer(ref) === y) throw new ShapeError(`matmul: y must not share a GPUBuffer with ${name} (WebGPU forbids read and write bindings of one buffer in a dispatch)`);
  }
}

/** The variant encodeMatmul runs for a shape unless told: the autotuned one, else the default. */
export function chosenMatmulVariant(ctx: GpuContext, s: MatmulShape): MatmulVariant {
  return matmulChoiceTable(ctx).get(matmulShapeClass(s)) ?? defaultMatmulVariant(ctx);
}

/** Encodes y = act(alpha * (x @ W) + bias) (+ y if accumulate) into an open compute pass. */
export function encodeMatmul(ctx: GpuContext, pass: GPUComputePassEncoder, args: MatmulArgs): void {
  validate(args);
  const variant = args.variant ?? chosenMatmulVariant(ctx, args);
  const p = plan(variant, args, weightRead(ctx, args.wDtype ?? 'f32', args.wRead));
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (p.workgroups[0] > max || p.workgroups[1] > max) {
    throw new ShapeError(`matmul ${variant}: M=${args.M}, N=${args.N} need ${p.workgroups.join('x')} workgroups, above the limit of ${max} per dimension`);
  }
  const flags = (args.bias ? 1 : 0) | (args.accumulate ? 2 : 0);
  const params = new Params()
    .u32(args.M)
    .u32(args.N)
    .u32(args.K)
    .u32(flags)
    .f32(args.alpha ?? 1)
    .u32(ACTIVATIONS[args.activation ?? 'none'])
    .u32(args.ldy ?? args.N)
    .u32(args.col0 ?? 0)
    .done();
  // Without a bias the kernel never reads binding 3, but the layout still needs a buffer there.
  const bias = args.bias ?? args.x;
  dispatch(ctx, pass, p.spec, { constants: p.constants, params, buffers: [args.x, args.w, bias, args.y], workgroups: p.workgroups });
}
