/**
 * A tenant's layout in the adapter pool (S-LoRA unified paging): a page is one vector of
 * `pageFloats` (= hidden size H) floats. A rank-r A [r, in] is r rows; B [out, r] is stored
 * transposed as r rows of `out` floats, so it is paged the same way; a row longer than H
 * (e.g. the 4H FFN side) spans ceil(len/H) pages. The classifier head is numLabels rows of
 * W plus one bias row. The layout numbers the tenant's pages 0..numPages-1 ("logical"); the
 * pool maps them to physical pages anywhere in its buffer, so nothing needs contiguity.
 */
import type { LoraAdapter } from '../../formats/types.js';
import { ShapeError } from '../../errors.js';
import type { TenantMeta } from './pack.js';

export interface ModuleShape {
  readonly path: string;
  readonly r: number;
  readonly inDim: number;
  readonly outDim: number;
  readonly scale: number;
}

export interface AdapterShape {
  readonly modules: readonly ModuleShape[];
  /** The classifier, when the tenant has one: W [numLabels, inDim], bias [numLabels]. */
  readonly head?: { readonly numLabels: number; readonly inDim: number };
}

export interface ModulePages extends ModuleShape {
  /** Logical page of A's row 0; row k starts at aPage + k*ceil(inDim/H). */
  readonly aPage: number;
  /** Logical page of B^T's row 0; row k starts at bPage + k*ceil(outDim/H). */
  readonly bPage: number;
}

export interface HeadPages {
  readonly numLabels: number;
  readonly inDim: number;
  /** Logical page of W's row 0; row l starts at wPage + l*ceil(inDim/H). */
  readonly wPage: number;
  /** Logical page of the bias row (ceil(numLabels/H) pages). */
  readonly biasPage: number;
}

export interface TenantLayout {
  readonly pageFloats: number;
  readonly modules: ReadonlyMap<string, ModulePages>;
  readonly head: HeadPages | undefined;
  readonly numPages: number;
}

export function adapterShape(adapter: LoraAdapter): AdapterShape {
  const modules = [...adapter.modules].map(([path, m]) => ({ path, r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale }));
  const w = adapter.head.get('classifier.weight');
  return w ? { modules, head: { numLabels: w.shape[0], inDim: w.shape[1] } } : { modules };
}

/** The shape from stored metadata alone (the head's input is the hidden size). */
export function metaShape(meta: TenantMeta, hiddenSize: number): AdapterShape {
  return meta.numLabels > 0 ? { modules: meta.modules, head: { numLabels: meta.numLabels, inDim: hiddenSize } } : { modules: meta.modules };
}

export function tenantLayout(shape: AdapterShape, pageFloats: number): TenantLayout {
  const H = pageFloats;
  const pages = (len: number): number => Math.ceil(len / H);
  let next = 0;
  const modules = new Map<string, ModulePages>();
  for (const m of [...shape.modules].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const aPage = next;
    next += m.r * pages(m.inDim);
    const bPage = next;
    next += m.r * pages(m.outDim);
    modules.set(m.path, { path: m.path, r: m.r, inDim: m.inDim, outDim: m.outDim, scale: m.scale, aPage, bPage });
  }
  let head: HeadPages | undefined;
  if (shape.head && shape.head.numLabels > 0) {
    const wPage = next;
    next += shape.head.numLabels * pages(shape.head.inDim);
    const biasPage = next;
    next += pages(shape.head.numLabels);
    head = { numLabels: shape.head.numLabels, inDim: shape.head.inDim, wPage, biasPage };
  }
  return { pageFloats: H, modules, head, numPages: next };
}

/** Pool bytes a tenant occupies with pages of `pageFloats` floats. */
export function layoutBytes(shape: AdapterShape, pageFloats: number): number {
  return tenantLayout(shape, pageFloats).numPages * pageFloats * 4;
}

/** The tenant's pages in logical order, each zero-padded to pageFloats: what the pool uploads. */
export function fillPages(adapter: LoraAdapter, layout: TenantLayout): Float32Array {
  const H = layout.pageFloats;
  const data = new Float32Array(layout.numPages * H);
  const pages = (len: number): number => Math.ceil(len / H);
  for (const [path, m] of layout.modules) {
    const mod = adapter.modules.get(path);
    if (!mod) throw new ShapeError(`layout module ${path} missing from the adapter`);
    const ppA = pages(m.inDim);
    for (let k = 0; k < m.r; k++) data.set(mod.A.subarray(k * m.inDim, (k + 1) * m.inDim), (m.aPage + k * ppA) * H);
    const ppB = pages(m.outDim);
    for (let k = 0; k < m.r; k++) {
      const o = (m.bPage + k * ppB) * H;
      for (let c = 0; c < m.outDim; c++) data[o + c] = mod.B[c * m.r + k];
    }
  }
  const head = layout.head;
  if (head) {
    const w = adapter.head.get('classifier.weight');
    if (!w) throw new ShapeError('layout has a head but the adapter has no classifier.weight');
    const pp = pages(head.inDim);
    for (let l = 0; l < head.numLabels; l++) data.set(w.data.subarray(l * head.inDim, (l + 1) * head.inDim), (head.wPage + l * pp) * H);
    const b = adapter.head.get('classifier.bias');
    if (b) data.set(b.data, head.biasPage * H);
  }
  return data;
}
