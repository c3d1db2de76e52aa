/** Tokens per second over a sliding window of recent decode steps (what the dashboard shows now, not a lifetime mean). */
export class TokenRate {
  private readonly events: { t: number; tokens: number }[] = [];

  constructor(
    private readonly now: () => number,
    private readonly windowMs = 5000,
  ) {}

  add(tokens: number): void {
    const t = this.now();
    this.events.push({ t, tokens });
    this.trim(t);
  }

  perSecond(): number {
    const t = this.now();
    this.trim(t);
    if (this.events.length === 0) return 0;
    let n = 0;
    for (const e of this.events) n += e.tokens;
    // At least one second of span, so a single step does not read as an enormous rate.
    return n / (Math.max(1000, t - this.events[0].t) / 1000);
  }

  private trim(t: number): void {
    let drop = 0;
    while (drop < this.events.length && t - this.events[drop].t > this.windowMs) drop++;
    if (drop) this.events.splice(0, drop);
  }
}
