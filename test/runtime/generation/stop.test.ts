import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StopStringMatcher } from '../../../src/runtime/generation/stop.js';
import { InvalidInputError } from '../../../src/runtime/errors.js';

/** Feeds chunks; returns everything shown to the user and the stop, if any. */
function feed(stops: string[], chunks: string[]): { out: string; stop?: string } {
  const m = new StopStringMatcher(stops);
  let out = '';
  for (const c of chunks) {
    const r = m.push(c);
    out += r.text;
    if (r.stopped) return { out, stop: r.stop };
  }
  return { out: out + m.flush() };
}

/** The reference: the first stop to complete in the whole text, ties to the earlier start. */
function reference(stops: string[], text: string): { out: string; stop?: string } {
  for (let end = 1; end <= text.length; end++) {
    const hits = stops.filter((s) => s.length <= end && text.slice(end - s.length, end) === s);
    if (hits.length > 0) {
      const stop = hits.reduce((a, b) => (b.length > a.length ? b : a));
      return { out: text.slice(0, end - stop.length), stop };
    }
  }
  return { out: text };
}

describe('StopStringMatcher', () => {
  it('finds a stop string spanning tokens and drops it from the output', () => {
    expect(feed(['\n\nUser:'], ['Hello', ' there.', '\n', '\nUs', 'er:', ' more'])).toEqual({ out: 'Hello there.', stop: '\n\nUser:' });
  });

  it('holds back only the ambiguous suffix, and releases it once it cannot start a stop', () => {
    const m = new StopStringMatcher(['END']);
    expect(m.push('abcE')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('N')).toEqual({ text: '', stopped: false });
    expect(m.push('x')).toEqual({ text: 'ENx', stopped: false });
    expect(m.push('EEN')).toEqual({ text: 'E', stopped: false });
    expect(m.push('D!')).toEqual({ text: '', stopped: true, stop: 'END' });
    expect(m.push('more')).toEqual({ text: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('flush returns held text when the stream ends without a stop', () => {
    const m = new StopStringMatcher(['</s>']);
    expect(m.push('a</')).toEqual({ text: 'a', stopped: false });
    expect(m.flush()).toBe('</');
  });

  it('reports the stop that completes first, whatever the chunking', () => {
    expect(feed(['bcd', 'c'], ['abcd'])).toEqual({ out: 'ab', stop: 'c' });
    expect(feed(['ab', 'abc'], ['abc'])).toEqual({ out: '', stop: 'ab' });
    expect(feed(['xab', 'ab'], ['zxab'])).toEqual({ out: 'z', stop: 'xab' });
  });

  it('agrees with the whole-text reference for any chunking (property)', () => {
    const alpha = fc.constantFrom('a', 'b', 'c', '\n');
    const str = (min: number, max: number) => fc.array(alpha, { minLength: min, maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.array(str(1, 4), { minLength: 1, maxLength: 3 }), str(0, 30), fc.array(fc.nat(), { maxLength: 10 }), (stops, text, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const p of [...points, text.length]) {
          chunks.push(text.slice(prev, p));
          prev = p;
        }
        expect(feed(stops, chunks)).toEqual(reference(stops, text));
      }),
      { seed: 20261125, numRuns: 2000 },
    );
  });

  it('rejects empty stop strings', () => {
    expect(() => new StopStringMatcher(['ok', ''])).toThrow(InvalidInputError);
  });
});
