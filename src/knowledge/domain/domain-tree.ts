/**
 * The domain knowledge tree's structure: nodes, parents, which lower-layer weights each node
 * runs and which LayerNorm closes its PLOT combine. Kept generic: a node's own lower weights
 * are an opaque handle (`lowerWeightsId`) the runtime maps to a full set or a lower-layer LoRA.
 */
import { DomainCycleError, DomainTreeError, UnknownDomainError } from './errors.js';

export interface LayerNormWeights {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
}

/**
 * What a PLOT miss costs a node's tenants. `exact`: the window runs through the node's own
 * lower layers, so a hit and a miss give the same numbers. `inherit`: the nearest ancestor's
 * entry is taken first (cheaper, approximate when the ancestor runs other lower weights).
 */
export type MissPolicy = 'exact' | 'inherit';

export function isMissPolicy(v: unknown): v is MissPolicy {
  return v === 'exact' || v === 'inherit';
}

export interface DomainNodeSpec {
  readonly id: string;
  /** null only for the root (the general domain). */
  readonly parent: string | null;
  /** Own lower-layer weights (domain-adaptive pre-training); absent = the parent's. */
  readonly lowerWeightsId?: string;
  /** LayerNorm of the hBERT combine; absent = the nearest ancestor's, else the model default. */
  readonly ln?: LayerNormWeights;
  /** Most PLOT entries the node may store. */
  readonly budgetEntries: number;
  /** Miss policy of the node's tenants; absent = the nearest ancestor's, else the runtime's. */
  readonly policy?: MissPolicy;
}

/** Identity of the base model's lower layers, the scope of every node without own weights. */
export const BASE_SCOPE = 'base';

export class DomainTree {
  private readonly nodes = new Map<string, DomainNodeSpec>();
  private rootId: string;

  constructor(root: Omit<DomainNodeSpec, 'parent'> & { parent?: null }) {
    checkSpec({ ...root, parent: null });
    this.rootId = root.id;
    this.nodes.set(root.id, { ...root, parent: null });
  }

  /** A tree from a list in any order (as persisted); rejects cycles, unknown parents, two roots. */
  static from(specs: readonly DomainNodeSpec[]): DomainTree {
    const roots = specs.filter((s) => s.parent === null);
    if (roots.length !== 1) throw new DomainTreeError(`a domain tree needs exactly one root, got ${roots.length}`);
    const byId = new Map(specs.map((s) => [s.id, s]));
    if (byId.size !== specs.length) throw new DomainTreeError('duplicate domain ids');
    for (const s of specs) {
      const seen = [s.id];
      for (let p = s.parent; p !== null; p = byId.get(p)!.parent) {
        if (!byId.has(p)) throw new UnknownDomainError(p);
        if (seen.includes(p)) throw new DomainCycleError([...seen, p]);
        seen.push(p);
      }
    }
    const tree = new DomainTree(roots[0] as DomainNodeSpec & { parent: null });
    const added = new Set([tree.rootId]);
    while (added.size < specs.length) {
      for (const s of specs) {
        if (added.has(s.id) || s.parent === null || !added.has(s.parent)) continue;
        tree.add(s);
        added.add(s.id);
      }
    }
    return tree;
  }

  get root(): string {
    return this.rootId;
  }

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  node(id: string): DomainNodeSpec {
    const n = this.nodes.get(id);
    if (!n) throw new UnknownDomainError(id);
    return n;
  }

  /**
   * Adds a node, or replaces one (moving it keeps its children). A parent chain that would
   * loop back to the node is a DomainCycleError and leaves the tree unchanged.
   */
  add(spec: DomainNodeSpec): void {
    checkSpec(spec);
    if (spec.parent === null) {
      if (spec.id !== this.rootId) throw new DomainTreeError(`domain "${spec.id}" has no parent but "${this.rootId}" is the root`);
    } else {
      if (spec.id === this.rootId) throw new DomainTreeError(`the root "${spec.id}" cannot get a parent`);
      const chain = [spec.id];
      for (let p: string | null = spec.parent; p !== null; p = this.node(p).parent) {
        chain.push(p);
        if (p === spec.id) throw new DomainCycleError(chain);
      }
    }
    this.nodes.set(spec.id, { ...spec });
  }

  /** Removes a leaf (a node with children would orphan them). */
  remove(id: string): void {
    this.node(id);
    if (id === this.rootId) throw new DomainTreeError('the root domain cannot be removed');
    if (this.children(id).length > 0) throw new DomainTreeError(`domain "${id}" has children`);
    this.nodes.delete(id);
  }

  children(id: string): string[] {
    return [...this.nodes.values()].filter((n) => n.parent === id).map((n) => n.id);
  }

  /** The node, then its ancestors up to the root. */
  chain(id: string): string[] {
    const out: string[] = [];
    for (let p: string | null = id; p !== null; p = this.node(p).parent) out.push(p);
    return out;
  }

  /** Which lower-layer weights the node runs: equal scopes compute equal PLOT values. */
  scope(id: string): string {
    for (const p of this.chain(id)) {
      const w = this.node(p).lowerWeightsId;
      if (w !== undefined) return `w:${w}`;
    }
    return BASE_SCOPE;
  }

  /** The LayerNorm the node's combine uses, or undefined for the model's default. */
  layerNorm(id: string): LayerNormWeights | undefined {
    for (const p of this.chain(id)) {
      const ln = this.node(p).ln;
      if (ln) return ln;
    }
    return undefined;
  }

  /** The miss policy the node's tenants get, or undefined for the runtime's default. */
  policy(id: string): MissPolicy | undefined {
    for (const p of this.chain(id)) {
      const policy = this.node(p).policy;
      if (policy) return policy;
    }
    return undefined;
  }

  /** Every id, parents before children. */
  ids(): string[] {
    const out = [this.rootId];
    for (let i = 0; i < out.length; i++) out.push(...this.children(out[i]));
    return out;
  }

  /** The subtree of `id`, parents before children. */
  subtree(id: string): string[] {
    this.node(id);
    const out = [id];
    for (let i = 0; i < out.length; i++) out.push(...this.children(out[i]));
    return out;
  }
}

function checkSpec(spec: DomainNodeSpec): void {
  if (typeof spec.id !== 'string' || spec.id.length === 0) throw new DomainTreeError('a domain id must be a non-empty string');
  if (!Number.isInteger(spec.budgetEntries) || spec.budgetEntries < 0) {
    throw new DomainTreeError(`domain "${spec.id}": budgetEntries must be an integer >= 0, got ${spec.budgetEntries}`);
  }
  if (spec.policy !== undefined && !isMissPolicy(spec.policy)) {
    throw new DomainTreeError(`domain "${spec.id}": policy must be "exact" or "inherit", got ${JSON.stringify(spec.policy)}`);
  }
  if (spec.ln && spec.ln.gamma.length !== spec.ln.beta.length) throw new DomainTreeError(`domain "${spec.id}": LayerNorm gamma and beta differ in size`);
}
