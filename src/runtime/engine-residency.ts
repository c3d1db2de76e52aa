import type { Engine } from './engine.js';
import type { Residency } from './pipeline.js';

/**
 * The admission path's view of residency, forwarded to whichever engine is current. Pins are
 * counted per engine, so a batch that straddles a device loss is re-pinned on the new engine
 * and never unpins there what it pinned on the old one.
 */
export class EngineResidency implements Residency {
  private readonly pinsByEngine = new WeakMap<Engine, Map<string, number>>();
  private waiters: (() => void)[] = [];

  constructor(private readonly current: () => Engine) {}

  private pinsOf(engine: Engine): Map<string, number> {
    let m = this.pinsByEngine.get(engine);
    if (!m) {
      m = new Map();
      this.pinsByEngine.set(engine, m);
    }
    return m;
  }

  isResident(id: string): boolean {
    return this.current().residency.isResident(id);
  }

  async ensure(ids: readonly string[]): Promise<Map<string, unknown>> {
    const engine = this.current();
    const failures = await engine.residency.ensure(ids);
    const pins = this.pinsOf(engine);
    for (const id of ids) if (!failures.has(id)) pins.set(id, (pins.get(id) ?? 0) + 1);
    return failures;
  }

  /** Pins, on the current engine, those of `ids` this view holds no pin for (after a recovery). */
  async repin(ids: readonly string[]): Promise<Map<string, unknown>> {
    const pins = this.pinsOf(this.current());
    const missing = ids.filter((id) => !pins.get(id));
    return missing.length ? this.ensure(missing) : new Map();
  }

  /** One more pin of a tenant this view already pinned on `engine` (a request that outlives its batch). */
  hold(engine: Engine, id: string): void {
    engine.pool.pin([id]);
    const pins = this.pinsOf(engine);
    pins.set(id, (pins.get(id) ?? 0) + 1);
  }

  unpin(ids: readonly string[]): void {
    this.unpinOn(this.current(), ids);
  }

  /** Unpins on the engine the pins were taken on; a lost engine's pins went with it. */
  unpinOn(engine: Engine, ids: readonly string[]): void {
    const pins = this.pinsOf(engine);
    const mine = ids.filter((id) => (pins.get(id) ?? 0) > 0);
    for (const id of mine) {
      const n = pins.get(id)! - 1;
      if (n) pins.set(id, n);
      else pins.delete(id);
    }
    if (engine === this.current() && !engine.lost) engine.residency.unpin(mine);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  released(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  retryable(error: unknown): boolean {
    return this.current().residency.retryable(error);
  }

  deferrable(error: unknown): boolean {
    return this.current().residency.deferrable(error);
  }
}
