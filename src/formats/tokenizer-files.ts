/**
 * Writes tokenizer.json + tokenizer_config.json in the layout @huggingface/tokenizers reads:
 * a BERT WordPiece tokenizer from its vocabulary, a GPT-2 byte-level BPE tokenizer from its
 * merges. One writer for the synthetic test models and the trained ones (training/).
 */
import { byteSymbols, byteVocabOrder } from './byte-level.js';

export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export const GPT2_EOS = '<|endoftext|>';

export interface TokenizerFiles {
  readonly tokenizer: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly vocabSize: number;
}

function addedToken(id: number, content: string, normalized: boolean): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true };
}

/** Names of BERT's special tokens (tokenizer_config.json's unk_token, sep_token, ...). */
export interface BertSpecialNames {
  readonly unk: string;
  readonly sep: string;
  readonly pad: string;
  readonly cls: string;
  readonly mask: string;
}

/** What transformers' BertTokenizer takes from tokenizer_config.json; the defaults are its defaults. */
export interface WordPieceOptions {
  /** do_lower_case (default true). */
  readonly lowercase?: boolean;
  /** strip_accents; null (the default) strips them exactly when lower-casing. */
  readonly stripAccents?: boolean | null;
  /** tokenize_chinese_chars (default true): CJK ideographs become words of their own. */
  readonly handleChineseChars?: boolean;
  readonly specials?: Partial<BertSpecialNames>;
}

const BERT_SPECIAL_NAMES: BertSpecialNames = { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]' };

/**
 * BERT WordPiece as transformers converts a vocab.txt (BertConverter): `vocab` is the list of
 * tokens by id and must hold the unk, cls and sep tokens; pad and mask are special when present.
 */
export function wordPieceTokenizerFiles(vocab: readonly string[], maxLength: number, options: WordPieceOptions = {}): TokenizerFiles {
  const names: BertSpecialNames = { ...BERT_SPECIAL_NAMES, ...options.specials };
  const ids = new Map<string, number>();
  vocab.forEach((t, i) => {
    if (!ids.has(t)) ids.set(t, i);
  });
  const id = (t: string): number => {
    const i = ids.get(t);
    if (i === undefined) throw new RangeError(`WordPiece vocabulary lacks ${t}`);
    return i;
  };
  const lowercase = options.lowercase ?? true;
  const specialOrder = [names.pad, names.unk, names.cls, names.sep, names.mask].filter((t, i, all) => all.indexOf(t) === i);
  const required = new Set([names.unk, names.cls, names.sep]);
  const special = (t: string, typeId: number): Record<string, unknown> => ({ SpecialToken: { id: t, type_id: typeId } });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialOrder.filter((t) => required.has(t) || ids.has(t)).map((t) => addedToken(id(t), t, false)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: options.handleChineseChars ?? true, strip_accents: options.stripAccents ?? null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special(names.cls, 0), { Sequence: { id: 'A', type_id: 0 } }, special(names.sep, 0)],
      pair: [special(names.cls, 0), { Sequence: { id: 'A', type_id: 0 } }, special(names.sep, 0), { Sequence: { id: 'B', type_id: 1 } }, special(names.sep, 1)],
      special_tokens: {
        [names.cls]: { id: names.cls, ids: [id(names.cls)], tokens: [names.cls] },
        [names.sep]: { id: names.sep, ids: [id(names.sep)], tokens: [names.sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: names.unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
  const config = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: lowercase,
    model_max_length: maxLength,
    cls_token: names.cls,
    sep_token: names.sep,
    pad_token: names.pad,
    unk_token: names.unk,
    mask_token: names.mask,
    clean_up_tokenization_spaces: true,
  };
  return { tokenizer, config, vocabSize: vocab.length };
}

/** What transformers' GPT2Tokenizer takes from tokenizer_config.json. */
export interface ByteLevelBpeOptions {
  /** add_prefix_space (default false): encode "word" as " word". */
  readonly addPrefixSpace?: boolean;
  /** Tokens of the vocabulary that are special (default: <|endoftext|>). */
  readonly specials?: readonly string[];
}

/** GPT-2 byte-level BPE: 256 byte symbols in GPT-2's order, one token per merge, then <|endoftext|>. */
export function byteLevelBpeTokenizerFiles(merges: readonly (readonly [string, string])[], maxLength: number): TokenizerFiles {
  const symbols = byteSymbols();
  const vocab: string[] = byteVocabOrder().map((b) => symbols[b]);
  // Two merges can spell the same token ("ab"+"c", "a"+"bc"): it gets one id.
  const seen = new Set(vocab);
  for (const [a, b] of merges) {
    if (!seen.has(a + b)) {
      seen.add(a + b);
      vocab.push(a + b);
    }
  }
  vocab.push(GPT2_EOS);
  return byteLevelBpeFromVocab(Object.fromEntries(vocab.map((t, i) => [t, i])), merges, maxLength);
}

/**
 * GPT-2 byte-level BPE from its vocabulary (token -> id, as vocab.json) and merges, as
 * transformers converts vocab.json + merges.txt (GPT2Converter).
 */
export function byteLevelBpeFromVocab(
  vocab: Readonly<Record<string, number>>,
  merges: readonly (readonly [string, string])[],
  maxLength: number,
  options: ByteLevelBpeOptions = {},
): TokenizerFiles {
  const specials = (options.specials ?? [GPT2_EOS]).filter((t, i, all) => Object.hasOwn(vocab, t) && all.indexOf(t) === i);
  const addPrefixSpace = options.addPrefixSpace ?? false;
  const byteLevel = { add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true };
  const eos = specials[0] ?? GPT2_EOS;
  let maxId = -1;
  for (const i of Object.values(vocab)) maxId = Math.max(maxId, i);
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => addedToken(vocab[t], t, true)),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    tokenizer_class: 'GPT2Tokenizer',
    model_max_length: maxLength,
    bos_token: eos,
    eos_token: eos,
    unk_token: eos,
    add_prefix_space: addPrefixSpace,
    // Decoding must give back exactly the text that was encoded.
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, config, vocabSize: maxId + 1 };
}
