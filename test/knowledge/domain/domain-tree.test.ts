import { describe, expect, it } from 'vitest';
import { BASE_SCOPE, DomainTree } from '../../../src/knowledge/domain/domain-tree.js';
import { DomainCycleError, DomainTreeError, UnknownDomainError } from '../../../src/knowledge/domain/errors.js';
import { fourDomains } from './fixtures.js';

describe('domain tree', () => {
  it('walks from a node to the root and resolves lower-weight scopes and LayerNorms', () => {
    const ln = { gamma: new Float32Array(2), beta: new Float32Array(2) };
    const specs = fourDomains();
    const tree = DomainTree.from([specs[3], specs[2], { ...specs[1], ln }, specs[0]]);
    expect(tree.root).toBe('general');
    expect(tree.chain('tax')).toEqual(['tax', 'law', 'general']);
    const order = tree.ids();
    expect([...order].sort()).toEqual(['general', 'law', 'med', 'tax']);
    for (const id of order) {
      const parent = tree.node(id).parent;
      if (parent !== null) expect(order.indexOf(parent)).toBeLessThan(order.indexOf(id));
    }
    expect(tree.scope('tax')).toBe(BASE_SCOPE);
    expect(tree.scope('med')).toBe('w:med-dapt');
    expect(tree.layerNorm('tax')).toBe(ln);
    expect(tree.layerNorm('med')).toBeUndefined();
    expect(tree.subtree('law')).toEqual(['law', 'tax']);
  });

  it('names unknown domains and cycles, and leaves the tree unchanged after either', () => {
    const tree = DomainTree.from(fourDomains());
    expect(() => tree.node('nope')).toThrow(UnknownDomainError);
    expect(() => tree.add({ id: 'x', parent: 'nope', budgetEntries: 1 })).toThrow(UnknownDomainError);
    expect(() => tree.add({ id: 'law', parent: 'tax', budgetEntries: 1 })).toThrow(DomainCycleError);
    expect(tree.chain('tax')).toEqual(['tax', 'law', 'general']);
    // Moving a node elsewhere is fine and keeps its children.
    tree.add({ id: 'law', parent: 'med', budgetEntries: 1 });
    expect(tree.chain('tax')).toEqual(['tax', 'law', 'med', 'general']);
    expect(tree.scope('tax')).toBe('w:med-dapt');
  });

  it('rejects malformed trees', () => {
    expect(() => DomainTree.from([])).toThrow(DomainTreeError);
    expect(() => DomainTree.from([{ id: 'a', parent: null, budgetEntries: 1 }, { id: 'b', parent: null, budgetEntries: 1 }])).toThrow(DomainTreeError);
    expect(() => DomainTree.from([{ id: 'a', parent: null, budgetEntries: -1 }])).toThrow(DomainTreeError);
    const tree = DomainTree.from(fourDomains());
    expect(() => tree.remove('law')).toThrow(DomainTreeError);
    expect(() => tree.remove('general')).toThrow(DomainTreeError);
    tree.remove('tax');
    expect(tree.has('tax')).toBe(false);
  });
});
