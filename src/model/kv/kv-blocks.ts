import { InvalidInputError } from '../../errors.js';
import { KvPoolError, KvTooLargeError } from './errors.js';

/** Positions whose keys/values a request writes: the prompt and every generated token but the last (never fed back). */
export function kvTokens(promptTokens: number, maxNewTokens: number): number {
  if (!Number.isInteger(promptTokens) || promptTokens < 1) throw new InvalidInputError(`promptTokens must be an integer >= 1, got ${promptTokens}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new InvalidInputError(`maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
  return promptTokens + Math.max(0, maxNewTokens - 1);
}

interface SeqBlocks {
  /** Blocks promised at admission: the most this sequence may ever hold. */
  readonly reserved: number;
  /** Physical block ids, in position order: block i holds positions i*B .. i*B+B-1. */
  readonly table: number[];
  /** Positions written (the next token's position). */
  length: number;
}

/**
 * The paged KV cache's bookkeeping, GPU-free (vLLM's block manager): a fixed number of
 * blocks of `blockTokens` positions, a block table per live sequence, and admission control.
 *
 * Policy: admission reserves the request's worst case (prompt + maxNewTokens - 1 positions)
 * and physical blocks are taken one at a time as positions are written. Reserving the worst
 * case means a running request can never run out of memory halfway, so no preemption,
 * swapping or recomputation is needed and admit() is the single place where memory
 * pressure shows (the caller waits). Taking blocks lazily keeps bytesUsed truthful (what
 * holds tokens, not what was promised) and costs nothing: a reserved block is never lent.
 * The price is that short-stopping requests hold their reservation until free(); for chat
 * lengths that is at most maxNewTokens of slack per live request.
 */
export class BlockAllocator {
  private readonly freeList: number[];
  private readonly seqs = new Map<number, SeqBlocks>();
  private reservedTotal = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockTokens: number,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new KvPoolError(`numBlocks must be an integer >= 1, got ${numBlocks}`);
    if (!Number.isInteger(blockTokens) || blockTokens < 1) throw new KvPoolError(`blockTokens must be an integer >= 1, got ${blockTokens}`);
    // Popped from the end: block 0 is handed out first.
    this.freeList = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockTokens);
  }

  /** Blocks holding tokens. */
  get usedBlocks(): number {
    return this.numBlocks - this.freeList.length;
  }

  /** Blocks promised to live sequences (held or not yet taken). */
  get reservedBlocks(): number {
    return this.reservedTotal;
  }

  get liveSequences(): number {
    return this.seqs.size;
  }

  has(seqId: number): boolean {
    return this.seqs.has(seqId);
  }

  /**
   * Reserves what the request could ever need. false = not now (the caller waits for frees);
   * KvTooLargeError = never, even in an empty pool.
   */
  admit(seqId: number, promptTokens: number, maxNewTokens: number): boolean {
    const tokens = kvTokens(promptTokens, maxNewTokens);
    const need = this.blocksFor(tokens);
    if (need > this.numBlocks) throw new KvTooLargeError(tokens, need, this.numBlocks);
    if (this.seqs.has(seqId)) throw new KvPoolError(`sequence ${seqId} is already admitted`);
    if (this.reservedTotal + need > this.numBlocks) return false;
    this.reservedTotal += need;
    this.seqs.set(seqId, { reserved: need, table: [], length: 0 });
    return true;
  }

  /** Takes physical blocks so positions 0..tokens-1 have a home (within the reservation). */
  grow(seqId: number, tokens: number): void {
    const s = this.get(seqId);
    const need = this.blocksFor(tokens);
    if (need > s.reserved) {
      throw new KvPoolError(`sequence ${seqId} needs ${need} blocks for ${tokens} positions; it reserved ${s.reserved}`);
    }
    while (s.table.length < need) {
      const b = this.freeList.pop();
      // Unreachable while reservations never exceed numBlocks; kept as a loud guard.
      if (b === undefined) throw new KvPoolError('the free list is empty under a valid reservation');
      s.table.push(b);
    }
  }

  /** Records `count` more positions written for the sequence (growing it if needed). */
  advance(seqId: number, count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new KvPoolError(`advance by ${count}: not an integer >= 0`);
    const s = this.get(seqId);
    this.grow(seqId, s.length + count);
    s.length += count;
  }

  /** Positions written so far: the position of the sequence's next token. */
  length(seqId: number): number {
    return this.get(seqId).length;
  }

  blockTable(seqId: number): readonly number[] {
    return this.get(seqId).table;
  }

  /** Returns every block and the reservation at once (finish or cancellation). Unknown ids are a no-op, so a cancel may race a finish. */
  free(seqId: number): void {
    const s = this.seqs.get(seqId);
    if (!s) return;
    for (let i = s.table.length - 1; i >= 0; i--) this.freeList.push(s.table[i]);
    this.reservedTotal -= s.reserved;
    this.seqs.delete(seqId);
  }

  private get(seqId: number): SeqBlocks {
    const s = this.seqs.get(seqId);
    if (!s) throw new KvPoolError(`sequence ${seqId} is not admitted`);
    return s;
  }
}
