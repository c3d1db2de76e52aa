import code from '../../shaders/matmul_tn.wgsl?raw';
import { dispatch, Params, type BufferRef } from '../gpu/dispatch.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';
import { requireElements, requireInts, requireUnaliased } from './check-shapes.js';

export const matmulTnKernel: KernelSpec = {
  name: 'matmul_tn',
  code,
  bindings: ['uniform', 'read', 'read', 'storage'],
};

export interface MatmulTnArgs {
  /** f32, K rows of stride lda (default M): a[k*lda + m]. */
  a: BufferRef;
  /** f32, K rows of stride ldb (default N): b[k*ldb + n]. */
  b: BufferRef;
  /** f32 [M, N] row-major, a different GPUBuffer from a and b. */
  c: BufferRef;
  M: number;
  N: number;
  /** May be 0: c = 0, or unchanged when accumulating. */
  K: number;
  lda?: number;
  ldb?: number;
  /** Default 1. */
  alpha?: number;
  /** c += alpha * A^T B instead of c = alpha * A^T B. */
  accumulate?: boolean;
}

const pow2AtMost = (v: number, cap: number): number => Math.min(cap, 2 ** Math.ceil(Math.log2(Math.max(1, v))));

/**
 * Workgroup shape over the 4x4 blocks: 64 invocations, but narrower on a side with few
 * blocks, so a LoRA gradient (M or N = rank, one or two blocks) does not idle 7/8 of each group.
 */
function workgroupShape(M: number, N: number): [number, number] {
  const wy = pow2AtMost(Math.ceil(M / 4), 8);
  const wx = pow2AtMost(Math.ceil(N / 4), 64 / wy);
  return [wx, wy];
}

/**
 * c[m,n] (+)= alpha * sum_k a[k*lda+m] * b[k*ldb+n]: the weight gradient dW = X^T dY of a
 * linear layer, reduced over token rows in a fixed order (bit-reproducible run to run).
 */
export function encodeMatmulTN(ctx: GpuContext, pass: GPUComputePassEncoder, args: MatmulTnArgs): void {
  const k = matmulTnKernel.name;
  const { M, N, K } = args;
  const lda = args.lda ?? M;
  const ldb = args.ldb ?? N;
  const alpha = args.alpha ?? 1;
  requireInts(k, { M, N });
  requireInts(k, { K }, 0);
  requireInts(k, { lda }, M);
  requireInts(k, { ldb }, N);
  if (!Number.isFinite(alpha)) throw new ShapeError(`${k}: alpha must be finite, got ${alpha}`);
  requireElements(k, 'a', args.a, K === 0 ? 0 : (K - 1) * lda + M);
  requireElements(k, 'b', args.b, K === 0 ? 0 : (K - 1) * ldb + N);
  requireElements(k, 'c', args.c, M * N);
  requireUnaliased(k, ['c', args.c], { a: args.a, b: args.b });
  if (K === 0 && args.accumulate) return;
  const [wx, wy] = workgroupShape(M, N);
  const groups: [number, number] = [Math.ceil(Math.ceil(N / 4) / wx), Math.ceil(Math.ceil(M / 4) / wy)];
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (groups[0] > max || groups[1] > max) {
    throw new ShapeError(`${k}: M=${M}, N=${N} need ${groups.join('x')} workgroups, above the limit of ${max} per dimension`);
  }
  dispatch(ctx, pass, matmulTnKernel, {
    constants: { WGX: wx, WGY: wy },
    params: new Params().u32(M).u32(N).u32(K).u32(lda).u32(ldb).u32(args.accumulate ? 1 : 0).f32(alpha).done(),
    buffers: [args.a, args.b, args.c],
    workgroups: groups,
  });
}
