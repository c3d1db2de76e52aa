import { describe, expect, it } from 'vitest';
import { HmiError } from '../../src/errors.js';
import { TrainDataError } from '../../src/formats/errors.js';
import { parseTrainData, trainDataFormatOf, type TrainDataFamily, type TrainDataFormat } from '../../src/formats/train-data.js';

function failure(text: string, format: TrainDataFormat, family: TrainDataFamily): TrainDataError {
  try {
    parseTrainData(text, format, family);
  } catch (e) {
    expect(e).toBeInstanceOf(TrainDataError);
    return e as TrainDataError;
  }
  throw new Error('expected a TrainDataError');
}

describe('parseTrainData: JSONL', () => {
  it('reads labelled lines for hBERT, string and integer labels, skipping blank lines and extra keys', () => {
    const text = '{"text": "win a cruise", "label": "spam"}\n\n   \n{"text": "lunch at noon?", "label": "ham", "id": 7}\n';
    expect(parseTrainData(text, 'jsonl', 'bert')).toEqual([
      { text: 'win a cruise', label: 'spam' },
      { text: 'lunch at noon?', label: 'ham' },
    ]);
    expect(parseTrainData('{"text":"a","label":0}\n{"text":"b","label":1}', 'jsonl', 'bert')).toEqual([
      { text: 'a', label: 0 },
      { text: 'b', label: 1 },
    ]);
  });

  it('reads objects or bare strings for hGPT and ignores labels there', () => {
    expect(parseTrainData('{"text": "Call me Ishmael."}\n"Some years ago"\n{"text": "x", "label": "y"}', 'jsonl', 'gpt2')).toEqual(['Call me Ishmael.', 'Some years ago', 'x']);
  });

  it('takes CRLF line ends, a byte-order mark and unicode (incl. U+2028 inside a string)', () => {
    const text = '\uFEFF{"text": "naïve café ☕ 日本語 🚀", "label": "ünï"}\r\n{"text": "a\u2028b", "label": "ünï"}\r\n';
    expect(parseTrainData(text, 'jsonl', 'bert')).toEqual([
      { text: 'naïve café ☕ 日本語 🚀', label: 'ünï' },
      { text: 'a\u2028b', label: 'ünï' },
    ]);
  });

  it('reads a .json file holding one array', () => {
    expect(parseTrainData('\n[\n {"text": "a", "label": "x"},\n {"text": "b", "label": "y"}\n]\n', 'jsonl', 'bert')).toHaveLength(2);
    expect(parseTrainData('["one", "two"]', 'jsonl', 'gpt2')).toEqual(['one', 'two']);
    const e = failure('[\n {"text": "a", "label": "x"},\n {"text": "b"}\n]', 'jsonl', 'bert');
    expect(e.message).toMatch(/^line 1: item 2 of the array: no "label" field/);
    const broken = failure('[\n {"text": "a", "label": "x"},\n {"text": "b" "label": "y"}\n]', 'jsonl', 'bert');
    expect(broken.message).toMatch(/^line 3: invalid JSON array/);
  });

  it('names the line and what is wrong', () => {
    const cases: [string, TrainDataFamily, RegExp][] = [
      ['{"text": "a", "label": "x"}\n\n{"text": "b"}', 'bert', /^line 3: no "label" field/],
      ['{"text": "a", "label": "x"}\n{"label": "x"}', 'bert', /^line 2: no "text" field \(fields: "label"\)/],
      ['{"text": "a", "label": "x"}\n[1, 2]', 'bert', /^line 2: expected an object \{"text": \.\.\., "label": \.\.\.\}, got an array/],
      ['42', 'gpt2', /^line 1: expected an object \{"text": \.\.\.\} or a string, got a number/],
      ['null', 'bert', /^line 1: expected an object .* got null/],
      ['"just text"', 'bert', /^line 1: a bare string has no label/],
      ['{"text": "a", "label": "x"}\n{"text": "b", "label": "y"', 'bert', /^line 2: invalid JSON/],
      ['{"text": 5, "label": "x"}', 'bert', /^line 1: "text" must be a string, got a number/],
      ['{"text": "   ", "label": "x"}', 'bert', /^line 1: "text" is empty/],
      ['{"text": "a", "label": ""}', 'bert', /^line 1: "label" is empty/],
      ['{"text": "a", "label": 0.5}', 'bert', /^line 1: "label" 0.5 is not an integer class/],
      ['{"text": "a", "label": null}', 'bert', /^line 1: "label" must be a string or an integer, got null/],
      ['{"text": "a", "label": 1}\n{"text": "b", "label": "1"}', 'bert', /^line 2: "label" is a string, but the label on line 1 is a number/],
    ];
    for (const [text, family, message] of cases) {
      const e = failure(text, 'jsonl', family);
      expect(e.message, text).toMatch(message);
      expect(e.code).toBe('BAD_TRAIN_DATA');
      expect(e).toBeInstanceOf(HmiError);
      expect(e.name).toBe('TrainDataError');
    }
    expect(failure('{"text": "a", "label": "x"}\n\n{"text": "b"}', 'jsonl', 'bert').line).toBe(3);
  });

  it('refuses empty data', () => {
    for (const text of ['', '\n\n  \r\n', '\uFEFF']) {
      const e = failure(text, 'jsonl', 'bert');
      expect(e.line).toBeUndefined();
      expect(e.message).toMatch(/no examples/);
    }
    expect(failure('[]', 'jsonl', 'gpt2').message).toMatch(/no examples/);
  });
});

describe('parseTrainData: CSV (RFC 4180)', () => {
  it('reads the text and label columns by header name, in any order and case, ignoring others', () => {
    const text = 'id,Label , TEXT\n1,spam,win a cruise\n2,ham,lunch at noon?\n';
    expect(parseTrainData(text, 'csv', 'bert')).toEqual([
      { text: 'win a cruise', label: 'spam' },
      { text: 'lunch at noon?', label: 'ham' },
    ]);
    expect(parseTrainData('text\nfirst\nsecond', 'csv', 'gpt2')).toEqual(['first', 'second']);
  });

  it('reads quoted fields: commas, doubled quotes, line breaks (LF and CRLF) inside quotes, CRLF records', () => {
    const text = 'text,label\r\n"Hello, world",a\r\n"She said ""hi""",b\r\n"two\r\nlines\nand a third",a\r\n"",b\r\n';
    const e = failure(text, 'csv', 'bert');
    // The empty quoted text is the fifth record, starting on line 7 (the third record spans lines 4-6).
    expect(e.message).toMatch(/^line 7: "text" is empty/);
    const ok = text.slice(0, text.lastIndexOf('"",b'));
    expect(parseTrainData(ok, 'csv', 'bert')).toEqual([
      { text: 'Hello, world', label: 'a' },
      { text: 'She said "hi"', label: 'b' },
      { text: 'two\r\nlines\nand a third', label: 'a' },
    ]);
  });

  it('keeps unicode and labels as strings; a missing final line end and blank lines are fine', () => {
    expect(parseTrainData('\uFEFFtext,label\n\n"日本語, ok",1\n\n🚀 launch,0', 'csv', 'bert')).toEqual([
      { text: '日本語, ok', label: '1' },
      { text: '🚀 launch', label: '0' },
    ]);
  });

  it('names the line and what is wrong', () => {
    const cases: [string, TrainDataFamily, RegExp][] = [
      ['content,label\nx,y', 'bert', /^line 1: the header row has no "text" column .*"content", "label"/],
      ['text\nx', 'bert', /^line 1: the header row has no "label" column/],
      ['text,text,label\nx,y,z', 'bert', /^line 1: the header row names the column "text" twice/],
      ['text,label\na,b\nc,d,e', 'bert', /^line 3: 3 fields, but the header row has 2/],
      ['text,label\na\n', 'bert', /^line 2: 1 field, but the header row has 2/],
      ['text,label\n"never closed,a\nb,c\n', 'bert', /^line 2: a quoted field opens here and never closes/],
      ['text,label\n"closed" early,a', 'bert', /^line 2: text after a closing quote/],
      ['text,label\nsay "hi",a', 'bert', /^line 2: a quote inside an unquoted field/],
      ['text,label\nok,a\n   ,b', 'bert', /^line 3: "text" is empty/],
      ['text,label\nok,a\nfine,', 'bert', /^line 3: "label" is empty/],
    ];
    for (const [text, family, message] of cases) expect(failure(text, 'csv', family).message, text).toMatch(message);
  });

  it('refuses a header with no rows, and empty input', () => {
    expect(failure('text,label\n', 'csv', 'bert').message).toMatch(/no examples/);
    expect(failure('', 'csv', 'bert').message).toMatch(/no examples/);
  });
});

describe('parseTrainData: auto', () => {
  it('tells JSONL, JSON arrays and CSV apart by the first non-blank line', () => {
    expect(parseTrainData('\n{"text": "a", "label": "x"}', 'auto', 'bert')).toEqual([{ text: 'a', label: 'x' }]);
    expect(parseTrainData('[{"text": "a", "label": "x"}]', 'auto', 'bert')).toEqual([{ text: 'a', label: 'x' }]);
    expect(parseTrainData('"a text, with a comma"\n"another"', 'auto', 'gpt2')).toEqual(['a text, with a comma', 'another']);
    expect(parseTrainData('text,label\na,x', 'auto', 'bert')).toEqual([{ text: 'a', label: 'x' }]);
    // A quoted CSV header, even a one-column one, is CSV.
    expect(parseTrainData('"text","label"\na,x', 'auto', 'bert')).toEqual([{ text: 'a', label: 'x' }]);
    expect(parseTrainData('"text"\nfirst', 'auto', 'gpt2')).toEqual(['first']);
  });
});

describe('trainDataFormatOf', () => {
  it('maps extensions', () => {
    expect(trainDataFormatOf('a/b/spam.jsonl')).toBe('jsonl');
    expect(trainDataFormatOf('x.NDJSON')).toBe('jsonl');
    expect(trainDataFormatOf('x.json')).toBe('jsonl');
    expect(trainDataFormatOf('x.CSV')).toBe('csv');
    expect(trainDataFormatOf('x.txt')).toBeUndefined();
    expect(trainDataFormatOf('jsonl')).toBeUndefined();
  });
});
