/**
 * An unbounded single-consumer queue from a producer's callbacks to an async iterator: the
 * producer pushes, then closes or fails; the consumer sees every pushed item, then the end
 * (or the failure). Bounded in practice by what the producer makes (a request's max tokens).
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private ended = false;
  private error: { readonly e: unknown } | undefined;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.notify();
  }

  close(): void {
    this.ended = true;
    this.notify();
  }

  fail(e: unknown): void {
    if (this.ended) return;
    this.error = { e };
    this.ended = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift() as T;
      if (this.ended) {
        if (this.error) throw this.error.e;
        return;
      }
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
