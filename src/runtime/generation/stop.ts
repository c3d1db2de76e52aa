import { InvalidInputError } from '../errors.js';

export interface StopChunk {
  /** Text safe to show now: never part of a stop string, never a possible start of one. */
  readonly text: string;
  /** A stop string completed: generation ends and `text` is the last of the output. */
  readonly stopped: boolean;
  /** The stop string that completed. */
  readonly stop?: string;
}

/**
 * Stop strings over a decoded text stream fed chunk by chunk (one token's text at a time,
 * so a stop string may span tokens). The output excludes the stop string and everything
 * after it; only the longest suffix that could still begin a stop string is held back.
 * The stop reported is the one that completes first in the text (ties: the one that starts
 * first), so the result does not depend on how the text was cut into chunks.
 */
export class StopStringMatcher {
  private readonly stops: readonly string[];
  private held = '';
  private done = false;

  constructor(stops: readonly string[]) {
    for (const s of stops) if (typeof s !== 'string' || s.length === 0) throw new InvalidInputError('a stop string must be a non-empty string');
    this.stops = [...new Set(stops)];
  }

  get stopped(): boolean {
    return this.done;
  }

  push(chunk: string): StopChunk {
    if (this.done) return { text: '', stopped: true };
    const text = this.held + chunk;
    let best: { start: number; end: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const start = text.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (!best || end < best.end || (end === best.end && start < best.start)) best = { start, end, stop };
    }
    if (best) {
      this.done = true;
      this.held = '';
      return { text: text.slice(0, best.start), stopped: true, stop: best.stop };
    }
    const keep = this.ambiguousSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stopped: false };
  }

  /** Ends the stream without a stop string (stop token, length limit): releases what was held. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return this.done ? '' : rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private ambiguousSuffix(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
