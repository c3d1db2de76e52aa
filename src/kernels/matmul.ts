import geluPrelude from '../../shaders/gelu_prelude.wgsl?raw';
import epilogue from '../../shaders/matmul_epilogue.wgsl?raw';
import naiveCode from '../../shaders/matmul_naive.wgsl?raw';
import tiledCode from '../../shaders/matmul_tiled.wgsl?raw';
import rb4x4Code from '../../shaders/matmul_rb4x4.wgsl?raw';
import rb4x4Vec4Code from '../../shaders/matmul_rb4x4_vec4.wgsl?raw';
import { dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type KernelSpec, type OverrideConstants } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';

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
const kernel = (name: string, code: string): KernelSpec => ({ name, code: composeWgsl(geluPrelude, epilogue, code), bindings: BINDINGS });

export const matmulKernels = {
  naive: kernel('matmul_naive', naiveCode),
  tiled: kernel('matmul_tiled', tiledCode),
  rb4x4: kernel('matmul_rb4x4', rb4x4Code),
  rb4x4Vec4: kernel('matmul_rb4x4_vec4', rb4x4Vec4Code),
} as const;

const ACTIVATIONS: Record<MatmulActivation, number> = { none: 0, gelu_erf: 1, gelu_tanh: 2 };

/**
 * Autotune key: weight layout and the rounded log2 of N and K. Not M: a projection must run
 * the same variant whatever the batch's row count, or a tenant's output would change in the
 * last bits with the other tenants batched beside it (variants sum in different orders).
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

function plan(variant: MatmulVariant, s: MatmulShape): Plan {
  const KN = s.wLayout === 'kn' ? 1 : 0;
  const div = (a: number, b: number): number => Math.ceil(a / b);
  switch (variant) {
    case 'naive':
      return { spec: matmulKernels.naive, constants: { KN }, workgroups: [div(s.N, 16), div(s.M, 16)] };
    case 'tiled':
      return { spec: matmulKernels.tiled, constants: { KN }, workgroups: [div(s.N, 64), div(s.M, 64)] };
    case 'rb4x4': {
      const vec4 = s.K % 4 === 0 && (s.wLayout === 'nk' || s.N % 4 === 0);
      // With at most one row of blocks (GEMV-like, e.g. decode), an 8x8 workgroup would idle 7/8 of itself.
      const [WGX, WGY] = s.M <= 4 ? [64, 1] : [8, 8];
      return {
        spec: vec4 ? matmulKernels.rb4x4Vec4 : matmulKernels.rb4x4,
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
  const wShape = a.wLayout === 'kn' ? `[K=${K}, N=${N}]` : `[N=${N}, K=${K}]`;
  const need: [string, BufferRef | undefined, number, string][] = [
    ['x', a.x, M * K, `[M=${M}, K=${K}]`],
    ['w', a.w, K * N, wShape],
    ['bias', a.bias, N, `[N=${N}]`],
    ['y', a.y, M * N, `[M=${M}, N=${N}]`],
  ];
  for (const [name, ref, count, shape] of need) {
    if (!ref) continue;
    const bytes = refBytes(ref);
    if (bytes !== undefined && bytes < count * 4) {
      throw new ShapeError(`matmul: ${name} must hold ${shape} f32 = ${count * 4} bytes, its binding has ${bytes}`);
    }
  }
  const y = refBuffer(a.y);
  for (const [name, ref] of [['x', a.x], ['w', a.w], ['bias', a.bias]] as const) {
    if (ref && refBuffer(ref) === y) throw new ShapeError(`matmul: y must not share a GPUBuffer with ${name} (WebGPU forbids read and write bindings of one buffer in a dispatch)`);
  }
}

/** Encodes y = act(alpha * (x @ W) + bias) (+ y if accumulate) into an open compute pass. */
export function encodeMatmul(ctx: GpuContext, pass: GPUComputePassEncoder, args: MatmulArgs): void {
  validate(args);
  const variant = args.variant ?? matmulChoiceTable(ctx).get(matmulShapeClass(args)) ?? defaultMatmulVariant(ctx);
  const p = plan(variant, args);
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
    .done();
  // Without a bias the kernel never reads binding 3, but the layout still needs a buffer there.
  const bias = args.bias ?? args.x;
  dispatch(ctx, pass, p.spec, { constants: p.constants, params, buffers: [args.x, args.w, bias, args.y], workgroups: p.workgroups });
}
