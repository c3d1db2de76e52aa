import { describe, expect, it } from 'vitest';
import type { TenantInfo } from '../../src/runtime/api.js';
import { labelNames, SYNTHETIC_ABOUT, TenantCatalog, type TrainedTenant } from '../../src/ui/catalog.js';

function info(id: string, domain: string, synthetic: boolean, description?: string): TenantInfo {
  const base = { id, domain, rank: 4, numLabels: 2, bytes: 1, residency: 'store' as const, requests: 0, p50Ms: 0, p99Ms: 0, synthetic };
  return description === undefined ? base : { ...base, description };
}

const SPAM: TrainedTenant = {
  id: 'spam',
  domain: 'email',
  task: 'classify',
  labels: ['ham', 'spam'],
  trainedOn: 'SpamAssassin messages',
  examples: ['win a free prize now', 'lunch at noon?'],
};

describe('TenantCatalog', () => {
  it('keeps trained and synthetic tenants apart, with what each knows', () => {
    const c = new TenantCatalog();
    const list = [info('tenant-10', 'general', true), info('spam', 'email', false), info('tenant-2', 'general', true), info('mine', 'general', false, 'my own adapter')];
    expect(c.update(list, [SPAM])).toBe(true);
    expect(c.real.map((e) => e.id)).toEqual(['mine', 'spam']);
    expect(c.synthetic).toEqual(['tenant-2', 'tenant-10']);
    expect(c.get('spam')).toMatchObject({ synthetic: false, domain: 'email', labels: ['ham', 'spam'], about: 'SpamAssassin messages', examples: SPAM.examples });
    expect(c.get('mine')).toMatchObject({ synthetic: false, about: 'my own adapter', labels: [], examples: [] });
    expect(c.get('tenant-2')).toMatchObject({ synthetic: true, about: SYNTHETIC_ABOUT });
    expect(c.size).toBe(4);
  });

  it('gives the load generator the synthetic tenants first, real ones in the tail', () => {
    const c = new TenantCatalog();
    c.update([info('spam', 'email', false), info('tenant-1', 'general', true), info('tenant-0', 'general', true)], [SPAM]);
    expect(c.loadIds).toEqual(['tenant-0', 'tenant-1', 'spam']);
  });

  it('a bundle tenant is real even if the runtime does not say', () => {
    const c = new TenantCatalog();
    c.update([info('spam', 'email', true)], [SPAM]);
    expect(c.get('spam')!.synthetic).toBe(false);
  });

  it('reports a change only when the set of tenants changes, not their counters', () => {
    const c = new TenantCatalog();
    const list = [info('spam', 'email', false), info('tenant-0', 'general', true)];
    expect(c.update(list, [SPAM])).toBe(true);
    expect(c.update(list.map((t) => ({ ...t, requests: t.requests + 5 })), [SPAM])).toBe(false);
    expect(c.update(list.slice(1), [SPAM])).toBe(true);
    expect(c.update(list.slice(1), [])).toBe(true);
  });

  it('suggests real tenants before synthetic ones', () => {
    const c = new TenantCatalog();
    c.update([info('tenant-0', 'general', true), info('tenant-1', 'general', true), info('spam', 'email', false)], [SPAM]);
    expect(c.suggest('', 2).map((e) => e.id)).toEqual(['spam', 'tenant-0']);
    expect(c.suggest('SPA', 5).map((e) => e.id)).toEqual(['spam']);
    expect(c.suggest('tenant-1', 5).map((e) => e.id)).toEqual(['tenant-1']);
  });
});

describe('labelNames', () => {
  const result = (label: string, labelIndex: number, n: number) => ({ label, labelIndex, scores: Array.from({ length: n }, () => 1 / n) });

  it('uses the tenant’s label names when they fit its scores', () => {
    expect(labelNames(result('spam', 1, 2), ['ham', 'spam'])).toEqual(['ham', 'spam']);
  });

  it('continues a numbered family from the one name returned', () => {
    expect(labelNames(result('label_2', 2, 4), [])).toEqual(['label_0', 'label_1', 'label_2', 'label_3']);
    expect(labelNames(result('LABEL_0', 0, 2), [])).toEqual(['LABEL_0', 'LABEL_1']);
  });

  it('otherwise names the others as the runtime would an unnamed label', () => {
    expect(labelNames(result('Republican', 1, 3), ['a', 'b'])).toEqual(['LABEL_0', 'Republican', 'LABEL_2']);
    // A number that is not the label's index is part of the name, not a numbering.
    expect(labelNames(result('1790-1847', 0, 2), [])).toEqual(['1790-1847', 'LABEL_1']);
  });
});
