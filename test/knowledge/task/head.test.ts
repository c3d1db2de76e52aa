import { describe, expect, it } from 'vitest';
import { predictions } from '../../../src/knowledge/task/head.js';

describe('head predictions', () => {
  it('softmaxes each request over its own labels only and names the argmax', () => {
    // maxLabels 4: request 0 has 3 labels (padding 0 must not count), request 1 none, request 2 has 4.
    const logits = new Float32Array([1, 3, 2, 0, 0, 0, 0, 0, 1000, 1001, 999, 1001.5]);
    const out = predictions(logits, { maxLabels: 4, numLabels: [3, 0, 4] }, (q) => (q === 0 ? ['a', 'b', 'c'] : undefined));
    const e = [Math.exp(-2), 1, Math.exp(-1)];
    const s = e[0] + e[1] + e[2];
    expect(out[0].labelIndex).toBe(1);
    expect(out[0].label).toBe('b');
    out[0].scores.forEach((v, i) => expect(v).toBeCloseTo(e[i] / s, 12));
    expect(out[1]).toEqual({ labelIndex: -1, label: '', scores: [] });
    expect(out[2].labelIndex).toBe(3);
    expect(out[2].label).toBe('LABEL_3');
    expect(out[2].scores.every(Number.isFinite)).toBe(true);
    expect(out[2].scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});
