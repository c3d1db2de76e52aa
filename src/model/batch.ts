import type { ModelConfig } from '../formats/model-config.js';
import { InputError } from './errors.js';

/** One sequence of a batch, as token ids (and for BERT optional segment ids and mask). */
export interface SequenceInput {
  readonly ids: readonly number[];
  /** BERT segment ids (token_type_ids); all 0 when omitted. */
  readonly typeIds?: readonly number[];
  /** BERT attention_mask: 1 = a key every query may attend to, 0 = ignored key. */
  readonly attentionMask?: readonly number[];
}

/**
 * Sequences of different lengths packed row-wise without padding: sequence s owns rows
 * starts[s] .. starts[s]+lengths[s]-1 of every [rows, ...] activation, so one dispatch per
 * operation serves the whole batch.
 */
export interface PackedBatch {
  readonly numSeqs: number;
  readonly rows: number;
  readonly ids: Uint32Array;
  /** Absolute position of each row: past[s] + index within the sequence. */
  readonly positions: Uint32Array;
  /** Segment id of each row (BERT); null for GPT-2. */
  readonly typeIds: Uint32Array | null;
  readonly starts: readonly number[];
  readonly lengths: readonly number[];
  /** Tokens of each sequence already in its KV cache (0 without a cache). */
  readonly past: readonly number[];
  /** Per row, 1 = may be attended to, 0 = masked; null when nothing is masked. */
  readonly keyMask: Uint32Array | null;
}

function checkId(what: string, v: number, limit: number, where: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= limit) {
    throw new InputError(`${where}: ${what} ${v} is outside 0..${limit - 1}`);
  }
}

/**
 * Validates and packs sequences. Every check runs here, on the CPU, before any GPU work,
 * and names the sequence and position at fault.
 */
export function packBatch(config: ModelConfig, seqs: readonly SequenceInput[], past?: readonly number[]): PackedBatch {
  if (seqs.length === 0) throw new InputError('the batch has no sequences');
  if (past && past.length !== seqs.length) throw new InputError(`${seqs.length} sequences but ${past.length} cache lengths`);
  const isBert = config.family === 'bert';
  let rows = 0;
  const starts: number[] = [];
  const lengths: number[] = [];
  const pasts: number[] = [];
  let masked = false;
  seqs.forEach((s, i) => {
    const n = s.ids.length;
    const p = past?.[i] ?? 0;
    if (n === 0) throw new InputError(`sequence ${i} is empty`);
    if (p + n > config.maxPositions) {
      throw new InputError(
        `sequence ${i}: ${p > 0 ? `${p} cached + ${n} new` : n} tokens exceed the model's ${config.maxPositions} positions`,
      );
    }
    for (let j = 0; j < n; j++) checkId('token id', s.ids[j], config.vocabSize, `sequence ${i}, token ${j}`);
    if (s.typeIds !== undefined) {
      if (!isBert) throw new InputError(`sequence ${i}: token type ids are only for BERT models`);
      if (s.typeIds.length !== n) throw new InputError(`sequence ${i}: ${s.typeIds.length} token type ids for ${n} tokens`);
      for (let j = 0; j < n; j++) checkId('token type id', s.typeIds[j], config.typeVocabSize, `sequence ${i}, token ${j}`);
    }
    if (s.attentionMask !== undefined) {
      if (!isBert) throw new InputError(`sequence ${i}: an attention mask is only for BERT models (GPT-2 is causal)`);
      if (s.attentionMask.length !== n) throw new InputError(`sequence ${i}: attention mask of ${s.attentionMask.length} for ${n} tokens`);
      s.attentionMask.forEach((m, j) => {
        if (m !== 0 && m !== 1) throw new InputError(`sequence ${i}, token ${j}: attention mask value ${m} is not 0 or 1`);
        if (m === 0) masked = true;
      });
    }
    starts.push(rows);
    lengths.push(n);
    pasts.push(p);
    rows += n;
  });

  const ids = new Uint32Array(rows);
  const positions = new Uint32Array(rows);
  const typeIds = isBert ? new Uint32Array(rows) : null;
  const keyMask = masked ? new Uint32Array(rows).fill(1) : null;
  seqs.forEach((s, i) => {
    const base = starts[i];
    for (let j = 0; j < s.ids.length; j++) {
      ids[base + j] = s.ids[j];
      positions[base + j] = pasts[i] + j;
      if (typeIds && s.typeIds) typeIds[base + j] = s.typeIds[j];
      if (keyMask && s.attentionMask) keyMask[base + j] = s.attentionMask[j];
    }
  });
  return { numSeqs: seqs.length, rows, ids, positions, typeIds, starts, lengths, past: pasts, keyMask };
}

/** Row index of the last token of each sequence (the rows whose logits a decode step needs). */
export function lastRows(batch: PackedBatch): Uint32Array {
  return Uint32Array.from(batch.starts, (s, i) => s + batch.lengths[i] - 1);
}
