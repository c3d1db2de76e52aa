/** Shared builders for the task-knowledge tests: random adapters, paged batches, dense references. */
import type { LoraAdapter, LoraModule, TensorMap } from '../../../src/formats/types.js';
import { adapterShape, fillPages, tenantLayout } from '../../../src/knowledge/task/page-table.js';
// Not ../../helpers/gpu.js (Dawn): bench/kernels/micro.ts builds its LoRA batches with these in the browser.
import { randomFloats } from '../../../src/util/rng.js';

export interface ModuleSpec {
  readonly path: string;
  readonly r: number;
  readonly inDim: number;
  readonly outDim: number;
}

/** A LoRA adapter with deterministic weights; a classifier of `numLabels` rows over `hidden` when given. */
export function randomAdapter(seed: number, modules: readonly ModuleSpec[], head?: { numLabels: number; hidden: number }): LoraAdapter {
  const map = new Map<string, LoraModule>();
  modules.forEach((m, i) => {
    map.set(m.path, {
      ...m,
      scale: 0.5 + ((seed * 7 + i) % 5) / 4,
      A: randomFloats(m.r * m.inDim, seed * 1000 + i * 2 + 1),
      B: randomFloats(m.outDim * m.r, seed * 1000 + i * 2 + 2),
    });
  });
  const tensors: TensorMap = new Map();
  if (head) {
    tensors.set('classifier.weight', { shape: [head.numLabels, head.hidden], data: randomFloats(head.numLabels * head.hidden, seed * 1000 + 901) });
    tensors.set('classifier.bias', { shape: [head.numLabels], data: randomFloats(head.numLabels, seed * 1000 + 902) });
  }
  return { modules: map, head: tensors };
}

/** Deterministic permutation of 0..n-1 (so tenants land on scattered, non-contiguous pages). */
export function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const r = randomFloats(n, seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(((r[i] + 1) / 2) * (i + 1)) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export interface Segment {
  readonly tenant: number;
  readonly rowStart: number;
  readonly rowCount: number;
}

export interface PagedBatch {
  readonly pool: Float32Array;
  readonly tiles: Uint32Array;
  readonly numTiles: number;
  /** Metadata of `module` for every slot (= tenant index) at 0, then the page lists. */
  readonly table: Uint32Array;
  readonly heads: Uint32Array;
  readonly tmpStride: number;
}

/**
 * Lays tenants out in a CPU pool exactly as the GPU pool does (page-table.ts), on scattered
 * pages, and builds tiles/metadata for one module, as MultiTenantLora does, without a GPU.
 */
export function pagedBatch(H: number, tenants: readonly LoraAdapter[], module: string, segments: readonly Segment[], seed: number, spare = 3): PagedBatch {
  const layouts = tenants.map((a) => tenantLayout(adapterShape(a), H));
  const total = layouts.reduce((n, l) => n + l.numPages, 0) + spare;
  const order = shuffled(total, seed);
  const pool = randomFloats(total * H, seed + 17, 9);
  const meta = tenants.length * 4;
  const table = new Uint32Array(meta + total);
  const heads = new Uint32Array(tenants.length * 4);
  let next = 0;
  let tmpStride = 1;
  tenants.forEach((a, t) => {
    const layout = layouts[t];
    const data = fillPages(a, layout);
    const base = meta + next;
    for (let lp = 0; lp < layout.numPages; lp++) {
      const phys = order[next++];
      table[base + lp] = phys;
      pool.set(data.subarray(lp * H, (lp + 1) * H), phys * H);
    }
    const m = layout.modules.get(module);
    if (m) {
      table.set([m.r, new Uint32Array(new Float32Array([m.scale]).buffer)[0], base + m.aPage, base + m.bPage], t * 4);
      tmpStride = Math.max(tmpStride, m.r);
    }
    if (layout.head) heads.set([layout.head.numLabels, base + layout.head.wPage, base + layout.head.biasPage, 0], t * 4);
  });
  const tiles: number[] = [];
  for (const s of segments) for (let r = 0; r < s.rowCount; r += 4) tiles.push(s.rowStart + r, Math.min(4, s.rowCount - r), s.tenant, 0);
  return { pool, tiles: new Uint32Array(tiles.length ? tiles : [0, 0, 0, 0]), numTiles: tiles.length / 4, table, heads, tmpStride };
}

/** Segments of the given lengths laid end to end after `gap` rows with no tenant between each. */
export function segmentsOf(lengths: readonly number[], tenantOf: (i: number) => number, gap = 0): { segments: Segment[]; rows: number } {
  const segments: Segment[] = [];
  let row = 0;
  lengths.forEach((n, i) => {
    row += i % 3 === 1 ? gap : 0;
    segments.push({ tenant: tenantOf(i), rowStart: row, rowCount: n });
    row += n;
  });
  return { segments, rows: row + gap };
}

/** y + scale * (x @ A^T) @ B^T for the given rows, in f64. */
export function denseLora(y: Float64Array, x: ArrayLike<number>, m: LoraModule, rowStart: number, rowCount: number): void {
  for (let i = rowStart; i < rowStart + rowCount; i++) {
    const t = new Float64Array(m.r);
    for (let k = 0; k < m.r; k++) {
      let s = 0;
      for (let j = 0; j < m.inDim; j++) s += x[i * m.inDim + j] * m.A[k * m.inDim + j];
      t[k] = s;
    }
    for (let c = 0; c < m.outDim; c++) {
      let s = 0;
      for (let k = 0; k < m.r; k++) s += t[k] * m.B[c * m.r + k];
      y[i * m.outDim + c] += m.scale * s;
    }
  }
}
