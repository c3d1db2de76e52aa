/**
 * Tokenizers via @huggingface/tokenizers, behind a small interface: from tokenizer.json, or
 * from the older files checkpoints still ship (vocab.txt; vocab.json + merges.txt), turned
 * into the tokenizer.json transformers would convert them to.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.js';
import { byteLevelDecoderTable } from './byte-level.js';
import { byteLevelBpeFromVocab, GPT2_EOS, wordPieceTokenizerFiles, type BertSpecialNames } from './tokenizer-files.js';

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

/** tokenizer_config.json's model_max_length only reaches the config object, never encoding. */
const UNBOUNDED_LENGTH = 1e30;

function optionalConfig(tokenizerConfigJson: unknown): Record<string, unknown> | undefined {
  if (tokenizerConfigJson === undefined) return undefined;
  if (!isRecord(tokenizerConfigJson)) throw new TokenizerError('tokenizer_config.json must be a JSON object');
  return tokenizerConfigJson;
}

function configFlag(config: Record<string, unknown> | undefined, key: string): boolean | null | undefined {
  const v = config?.[key];
  if (v === undefined || v === null || typeof v === 'boolean') return v;
  throw new TokenizerError(`tokenizer_config.json "${key}" must be true, false or null, got ${JSON.stringify(v)}`);
}

/** A special token's text: a plain string, or a serialized AddedToken ({"content": ...}). */
function configToken(config: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = config?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  throw new TokenizerError(`tokenizer_config.json "${key}" must be a token string or {"content": ...}, got ${JSON.stringify(v)}`);
}

/** Lines of a text file without their line ends; the trailing newline makes no empty last line. */
function lines(text: string): string[] {
  const out = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * vocab.txt (one token per line, the line number is its id) + tokenizer_config.json: BERT
 * WordPiece with transformers' BertTokenizer defaults (lower-case, accents stripped when
 * lower-casing, CJK ideographs split, [UNK] [SEP] [PAD] [CLS] [MASK]).
 */
export function wordPieceTokenizerFromVocab(vocabTxt: string, tokenizerConfigJson?: unknown): HmiTokenizer {
  const config = optionalConfig(tokenizerConfigJson);
  const vocab = lines(vocabTxt);
  const firstLine = new Map<string, number>();
  vocab.forEach((t, i) => {
    const seen = firstLine.get(t);
    if (seen !== undefined) throw new TokenizerError(`vocab.txt lists ${JSON.stringify(t)} twice (lines ${seen + 1} and ${i + 1})`);
    firstLine.set(t, i);
  });
  const specials: Partial<Record<keyof BertSpecialNames, string>> = {};
  for (const k of ['unk', 'sep', 'pad', 'cls', 'mask'] as const) {
    const t = configToken(config, `${k}_token`);
    if (t !== undefined) specials[k] = t;
  }
  const lowercase = configFlag(config, 'do_lower_case') ?? configFlag(config, 'lowercase') ?? true;
  const stripAccents = configFlag(config, 'strip_accents') ?? null;
  const handleChineseChars = configFlag(config, 'tokenize_chinese_chars') ?? true;
  const files = wrap('cannot build a tokenizer from vocab.txt', () =>
    wordPieceTokenizerFiles(vocab, UNBOUNDED_LENGTH, { lowercase, stripAccents, handleChineseChars, specials }),
  );
  return loadTokenizer(files.tokenizer, config ?? files.config);
}

/**
 * vocab.json (token -> id) + merges.txt ("a b" per line after an optional "#version" line) +
 * tokenizer_config.json: GPT-2 byte-level BPE; add_prefix_space as configured (default false),
 * the configured bos/eos/unk/pad tokens (default <|endoftext|>) special.
 */
export function byteLevelBpeTokenizerFromFiles(vocabJson: unknown, mergesTxt: string, tokenizerConfigJson?: unknown): HmiTokenizer {
  const config = optionalConfig(tokenizerConfigJson);
  if (!isRecord(vocabJson)) throw new TokenizerError('vocab.json must be a JSON object {"token": id, ...}');
  const vocab: Record<string, number> = {};
  for (const [t, id] of Object.entries(vocabJson)) {
    if (typeof id !== 'number') throw new TokenizerError(`vocab.json gives ${JSON.stringify(t)} the id ${JSON.stringify(id)}; ids must be integers`);
    vocab[t] = id;
  }
  const merges: Array<[string, string]> = [];
  lines(mergesTxt).forEach((line, i) => {
    if ((i === 0 && line.startsWith('#version')) || line.trim() === '') return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerError(`merges.txt line ${i + 1} must be two tokens separated by one space, got ${JSON.stringify(line)}`);
    }
    merges.push([parts[0], parts[1]]);
  });
  const specials = ['eos_token', 'bos_token', 'unk_token', 'pad_token'].map((k) => configToken(config, k)).filter((t): t is string => t !== undefined);
  const addPrefixSpace = configFlag(config, 'add_prefix_space') ?? false;
  const files = byteLevelBpeFromVocab(vocab, merges, UNBOUNDED_LENGTH, { addPrefixSpace, specials: specials.length > 0 ? specials : [GPT2_EOS] });
  return loadTokenizer(files.tokenizer, config ?? files.config);
}

/**
 * The tokenizer of a model shipped without tokenizer files: token ids pass (the model checks
 * them against its vocabulary), anything needing text is a TokenizerError saying `why`.
 * Generated tokens stream with empty text.
 */
export function idsOnlyTokenizer(vocabSize: number, why: string): HmiTokenizer {
  const fail = (): never => {
    throw new TokenizerError(why);
  };
  return {
    vocabSize,
    specialIds: new Set(),
    encode: fail,
    decode: fail,
    tokenToId: () => undefined,
    createStreamDecoder: () => ({ push: () => '', flush: () => '' }),
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
