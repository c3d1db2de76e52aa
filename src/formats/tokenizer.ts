/** tokenizer.json (HF tokenizers format) via @huggingface/tokenizers, behind a small interface. */
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.js';
import { byteLevelDecoderTable } from './byte-level.js';

/** Incremental detokenizer: text comes out only once its UTF-8 characters are complete. */
export interface StreamDecoder {
  push(id: number): string;
  /** Whatever is still buffered (an incomplete character becomes U+FFFD). */
  flush(): string;
}

export interface HmiTokenizer {
  /** One past the largest token id, so it bounds an embedding table. */
  readonly vocabSize: number;
  /** Ids of special tokens ([CLS], [SEP], <|endoftext|>...), which decode() leaves out. */
  readonly specialIds: ReadonlySet<number>;
  /** With the specials the tokenizer's post_processor adds (BERT: [CLS] ... [SEP]). */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  tokenToId(token: string): number | undefined;
  createStreamDecoder(): StreamDecoder;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Builds a tokenizer from parsed tokenizer.json (and tokenizer_config.json when the model
 * has one). Unsupported components or malformed files are TokenizerErrors.
 */
export function loadTokenizer(tokenizerJson: unknown, tokenizerConfigJson?: unknown): HmiTokenizer {
  if (!isRecord(tokenizerJson)) throw new TokenizerError('tokenizer.json must be a JSON object');
  if (tokenizerConfigJson !== undefined && !isRecord(tokenizerConfigJson)) {
    throw new TokenizerError('tokenizer_config.json must be a JSON object');
  }
  const json: Record<string, unknown> = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
  if (!isRecord(json.model)) throw new TokenizerError('tokenizer.json has no "model" object');
  checkVocabIds(json.model, json.added_tokens);
  const tok = wrap('cannot load tokenizer.json', () => new Tokenizer(json, tokenizerConfigJson ?? {}));
  const vocab = wrap('cannot read the vocabulary', () => tok.get_vocab(true));
  let maxId = -1;
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  if (maxId < 0) throw new TokenizerError('tokenizer.json has an empty vocabulary');
  const specialIds = new Set<number>();
  for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) specialIds.add(id);
  const vocabSize = maxId + 1;
  const decoderType = isRecord(json.decoder) ? json.decoder.type : undefined;

  const checkIds = (ids: readonly number[]): void => {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new TokenizerError(`token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
      }
    }
  };
  const decode = (ids: readonly number[], cleanUp: boolean): string => {
    checkIds(ids);
    const kept = ids.filter((id) => !specialIds.has(id));
    if (kept.length === 0) return '';
    return wrap('decode failed', () => tok.decode(kept, { skip_special_tokens: true, clean_up_tokenization_spaces: cleanUp }));
  };

  return {
    vocabSize,
    specialIds,
    encode: (text) => {
      const ids = wrap('encode failed', () => tok.encode(text).ids);
      checkIds(ids);
      return ids;
    },
    decode: (ids) => decode(ids, true),
    tokenToId: (token) => tok.token_to_id(token),
    createStreamDecoder: () => {
      if (decoderType === 'ByteLevel') {
        const pieces = (id: number): string | undefined => (specialIds.has(id) ? undefined : tok.id_to_token(id));
        return byteLevelStream(pieces, checkIds);
      }
      return prefixStream((ids) => decode(ids, false), checkIds);
    },
  };
}

/**
 * Ids must be dense enough to index a table: the library sizes arrays by the largest id, so a
 * lying file (an id of 2^31, a negative or fractional one) would stall loading or yield ids
 * outside the embedding. Each id lies in 0..(vocabulary entries + added tokens - 1).
 */
function checkVocabIds(model: Record<string, unknown>, added: unknown): void {
  const vocab = model.vocab;
  const addedList = Array.isArray(added) ? added : [];
  const entries = isRecord(vocab) ? Object.keys(vocab).length : Array.isArray(vocab) ? vocab.length : 0;
  const limit = entries + addedList.length;
  const check = (id: unknown, what: string): void => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= limit) {
      throw new TokenizerError(`${what} has id ${String(id)}; ids must be integers in 0..${limit - 1}`);
    }
  };
  if (isRecord(vocab)) for (const [token, id] of Object.entries(vocab)) check(id, `vocabulary entry ${JSON.stringify(token)}`);
  for (const t of addedList) check(isRecord(t) ? t.id : undefined, 'an added token');
  if (model.type === 'WordPiece') {
    const unk = model.unk_token;
    if (typeof unk !== 'string' || !isRecord(vocab) || !(unk in vocab)) {
      throw new TokenizerError(`a WordPiece model needs its unk_token (${JSON.stringify(unk)}) in the vocabulary`);
    }
  }
}

/**
 * Byte-level BPE tokens are strings of byte symbols: turn them back into bytes and let a
 * streaming UTF-8 decoder hold an incomplete character until its last byte arrives.
 */
function byteLevelStream(piece: (id: number) => string | undefined, checkIds: (ids: readonly number[]) => void): StreamDecoder {
  const table = byteLevelDecoderTable();
  let utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  return {
    push(id) {
      checkIds([id]);
      const p = piece(id);
      if (p === undefined) return '';
      const bytes: number[] = [];
      for (const ch of p) {
        const b = table.get(ch);
        if (b === undefined) {
          // An added (non-byte-level) token: its text is literal.
          return utf8.decode() + p;
        }
        bytes.push(b);
      }
      return utf8.decode(new Uint8Array(bytes), { stream: true });
    },
    flush() {
      const rest = utf8.decode();
      utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
      return rest;
    },
  };
}

/**
 * Other decoders (WordPiece...) yield whole characters per token, but a token's text depends
 * on its neighbours (the "##" join, spaces): decode everything since the last flush and emit
 * what is new.
 */
function prefixStream(decode: (ids: readonly number[]) => string, checkIds: (ids: readonly number[]) => void): StreamDecoder {
  let ids: number[] = [];
  let emitted = '';
  return {
    push(id) {
      checkIds([id]);
      ids.push(id);
      const text = decode(ids);
      const out = text.startsWith(emitted) ? text.slice(emitted.length) : text.slice(Math.min(emitted.length, text.length));
      emitted = text;
      return out;
    },
    flush() {
      ids = [];
      emitted = '';
      return '';
    },
  };
}
