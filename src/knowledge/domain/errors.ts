/** Errors of the domain knowledge level (PLOT tables, their store and cache, the domain tree). */
import { HmiError } from '../../errors.js';

/** A domain id that is not a node of the domain knowledge tree. */
export class UnknownDomainError extends HmiError {
  constructor(readonly domain: string) {
    super('UNKNOWN_DOMAIN', `unknown domain "${domain}"`);
  }
}

/** A node whose parent chain would loop back to itself; the tree is left unchanged. */
export class DomainCycleError extends HmiError {
  constructor(readonly chain: readonly string[]) {
    super('DOMAIN_CYCLE', `domain tree cycle: ${chain.join(' -> ')}`);
  }
}

/** The domain tree is malformed in another way (no root, two roots, removing a node with children). */
export class DomainTreeError extends HmiError {
  constructor(message: string) {
    super('DOMAIN_TREE', message);
  }
}

/** A stored PLOT was built for another base model, split layer or layout than the one serving. */
export class PlotMismatchError extends HmiError {
  constructor(
    readonly node: string,
    readonly field: string,
    readonly expected: string | number,
    readonly found: string | number,
  ) {
    super('PLOT_MISMATCH', `PLOT of domain "${node}" was built for ${field} ${found}, this model has ${expected}`);
  }
}

/** A stored PLOT chunk or index failed its checksum or does not parse. */
export class CorruptChunkError extends HmiError {
  constructor(
    readonly record: string,
    reason: string,
  ) {
    super('PLOT_CORRUPT_CHUNK', `PLOT record ${record} is corrupt: ${reason}`);
  }
}

/** A batch needs more distinct PLOT entries at once than the GPU cache has slots. */
export class PlotCacheFullError extends HmiError {
  constructor(
    readonly needed: number,
    readonly slots: number,
  ) {
    super('PLOT_CACHE_FULL', `the batch needs ${needed} PLOT entries pinned at once but the GPU cache has ${slots} slots`);
  }
}

/** Reading or writing the PLOT store failed (I/O, quota); what was stored before stays intact. */
export class PlotStoreError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLOT_STORE', message, options);
  }
}
