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

/** Lower-casing BERT WordPiece; `vocab` must hold the five specials (any order). */
export function wordPieceTokenizerFiles(vocab: readonly string[], maxLength: number): TokenizerFiles {
  const id = (t: string): number => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new RangeError(`WordPiece vocabulary lacks ${t}`);
    return i;
  };
  const special = (t: string, typeId: number): Record<string, unknown> => ({ SpecialToken: { id: t, type_id: typeId } });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BERT_SPECIALS.map((t) => addedToken(id(t), t, false)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]', 0)],
      pair: [special('[CLS]', 0), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]', 0), { Sequence: { id: 'B', type_id: 1 } }, special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
  const config = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: maxLength,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    clean_up_tokenization_spaces: true,
  };
  return { tokenizer, config, vocabSize: vocab.length };
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
  const eosId = vocab.length;
  vocab.push(GPT2_EOS);
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(eosId, GPT2_EOS, true)],
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
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    tokenizer_class: 'GPT2Tokenizer',
    model_max_length: maxLength,
    bos_token: GPT2_EOS,
    eos_token: GPT2_EOS,
    unk_token: GPT2_EOS,
    add_prefix_space: false,
    // Decoding must give back exactly the text that was encoded.
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, config, vocabSize: vocab.length };
}
