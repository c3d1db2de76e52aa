import { HmiError } from '../../errors.js';

/** A request needs more KV cache than the whole pool holds: it could never run, so it is rejected rather than queued. */
export class KvTooLargeError extends HmiError {
  constructor(
    readonly tokens: number,
    readonly blocksNeeded: number,
    readonly blocksTotal: number,
  ) {
    super('KV_TOO_LARGE', `a request of ${tokens} tokens needs ${blocksNeeded} KV blocks; the pool has only ${blocksTotal}`);
  }
}

/** Misuse of the KV pool: an unknown or duplicate sequence, growth past a reservation, a budget too small for one block. */
export class KvPoolError extends HmiError {
  constructor(message: string) {
    super('KV_POOL', message);
  }
}
