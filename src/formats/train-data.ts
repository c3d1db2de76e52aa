/**
 * A tenant's training data from text, for `tenants.train`: the `hmi train` command and the
 * dashboard's train panel read files with it, so both accept the same things and report the
 * same errors.
 *
 * - JSONL: one JSON value per line. hBERT: `{"text": "...", "label": "spam"}` (a label may be a
 *   string or an integer, one kind for the whole file); hGPT: `{"text": "..."}` or a bare JSON
 *   string. Blank lines are skipped; other keys are ignored. A file that is one JSON array of
 *   such values (a `.json` file) is read as its items.
 * - CSV (RFC 4180): a header row naming a `text` column (and a `label` column for hBERT; other
 *   columns are ignored), comma-separated fields, quoted fields with doubled quotes, commas and
 *   line breaks inside quotes; CRLF or LF line ends. Labels are read as strings.
 *
 * Errors are TrainDataError naming the line where the bad record starts. The types are
 * structurally the runtime's LabelledExample / TrainData (src/runtime/api.ts); formats sits
 * below the runtime, so they are declared here rather than imported.
 */
import { TrainDataError } from './errors.js';

export type TrainDataFormat = 'jsonl' | 'csv' | 'auto';
export type TrainDataFamily = 'bert' | 'gpt2';

/** One labelled text (hBERT): assignable to the runtime's LabelledExample. */
export interface TrainExample {
  readonly text: string;
  readonly label: string | number;
}

/** Labelled texts (hBERT) or plain texts (hGPT): assignable to the runtime's TrainData. */
export type ParsedTrainData = readonly TrainExample[] | readonly string[];

/** The format a file name's extension says (.jsonl/.ndjson/.json -> jsonl, .csv -> csv), or undefined. */
export function trainDataFormatOf(fileName: string): 'jsonl' | 'csv' | undefined {
  const ext = /\.([a-z0-9]+)$/i.exec(fileName)?.[1]?.toLowerCase();
  if (ext === 'jsonl' || ext === 'ndjson' || ext === 'json') return 'jsonl';
  if (ext === 'csv') return 'csv';
  return undefined;
}

export function parseTrainData(text: string, format: TrainDataFormat, family: 'bert'): TrainExample[];
export function parseTrainData(text: string, format: TrainDataFormat, family: 'gpt2'): string[];
export function parseTrainData(text: string, format: TrainDataFormat, family: TrainDataFamily): TrainExample[] | string[];
export function parseTrainData(text: string, format: TrainDataFormat, family: TrainDataFamily): TrainExample[] | string[] {
  // A byte-order mark is what editors on Windows put in front of UTF-8; it is not part of the data.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const kind = format === 'auto' ? detect(body) : format;
  const records = kind === 'csv' ? csvRecords(body, family) : jsonRecords(body);
  const collect = new Collector(family);
  for (const r of records) collect.add(r);
  return collect.finish();
}

/** A record before its fields are checked: where it starts, and what it holds. */
interface RawRecord {
  readonly line: number;
  /** Item number in a JSON array file (1-based), for messages; undefined otherwise. */
  readonly item?: number;
  readonly value: unknown;
}

/**
 * JSON when the first non-blank line opens an object or array, or is a whole JSON string (an
 * hGPT text); anything else is CSV. A lone `"text"` is a one-column CSV header, not a text.
 */
function detect(body: string): 'jsonl' | 'csv' {
  const first = body.split('\n').find((l) => l.trim().length > 0)?.trim();
  if (first === undefined) return 'jsonl';
  if (first.startsWith('{') || first.startsWith('[')) return 'jsonl';
  if (first.startsWith('"')) {
    try {
      const v: unknown = JSON.parse(first);
      return typeof v === 'string' && v.trim().toLowerCase() !== 'text' ? 'jsonl' : 'csv';
    } catch {
      return 'csv';
    }
  }
  return 'csv';
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function parses(json: string): boolean {
  try {
    JSON.parse(json);
    return true;
  } catch {
    return false;
  }
}

function jsonRecords(body: string): RawRecord[] {
  const trimmed = body.trimStart();
  if (trimmed.startsWith('[')) {
    // One JSON array (a .json file). If it does not parse as a whole, the lines are read as
    // JSONL, whose error then names the first bad line.
    let whole: unknown;
    let error: unknown;
    try {
      whole = JSON.parse(body);
    } catch (e) {
      error = e;
    }
    if (Array.isArray(whole)) {
      const line = body.slice(0, body.length - trimmed.length).split('\n').length;
      return whole.map((value: unknown, i) => ({ line, item: i + 1, value }));
    }
    const firstLine = trimmed.split('\n')[0].trim();
    if (error !== undefined && !parses(firstLine)) {
      // Not JSONL either (its first line is no JSON value): a JSON array with an error in it.
      const message = error instanceof Error ? error.message : String(error);
      const at = /position (\d+)/.exec(message);
      const line = at ? body.slice(0, Number(at[1])).split('\n').length : undefined;
      throw new TrainDataError(`invalid JSON array (${message})`, line);
    }
  }
  const out: RawRecord[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (l.trim().length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(l);
    } catch (e) {
      throw new TrainDataError(`invalid JSON (${e instanceof Error ? e.message : String(e)}); each line must be one JSON value`, i + 1);
    }
    out.push({ line: i + 1, value });
  }
  return out;
}

/** Turns records into examples (or texts) and checks them, with the line of each problem. */
class Collector {
  private readonly examples: TrainExample[] = [];
  private readonly texts: string[] = [];
  /** The first record with a string label and the first with a number one: mixing them is refused. */
  private firstString: number | undefined;
  private firstNumber: number | undefined;

  constructor(private readonly family: TrainDataFamily) {}

  private fail(r: RawRecord, reason: string): never {
    throw new TrainDataError(r.item !== undefined ? `item ${r.item} of the array: ${reason}` : reason, r.line);
  }

  add(r: RawRecord): void {
    const v = r.value;
    let text: unknown;
    let label: unknown;
    if (typeof v === 'string') {
      if (this.family === 'bert') this.fail(r, 'a bare string has no label; hBERT data needs {"text": ..., "label": ...}');
      text = v;
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (!('text' in o)) this.fail(r, `no "text" field (fields: ${Object.keys(o).map((k) => JSON.stringify(k)).join(', ') || 'none'})`);
      text = o.text;
      label = o.label;
      if (this.family === 'bert' && !('label' in o)) this.fail(r, 'no "label" field; hBERT data needs {"text": ..., "label": ...}');
    } else {
      this.fail(r, `expected ${this.family === 'bert' ? 'an object {"text": ..., "label": ...}' : 'an object {"text": ...} or a string'}, got ${kindOf(v)}`);
    }
    if (typeof text !== 'string') this.fail(r, `"text" must be a string, got ${kindOf(text)}`);
    if (text.trim().length === 0) this.fail(r, '"text" is empty');
    if (this.family === 'gpt2') {
      this.texts.push(text);
      return;
    }
    if (typeof label === 'string') {
      if (label.trim().length === 0) this.fail(r, '"label" is empty');
      this.firstString ??= r.line;
      if (this.firstNumber !== undefined) this.fail(r, `"label" is a string, but the label on line ${this.firstNumber} is a number; use one kind for every label`);
    } else if (typeof label === 'number') {
      if (!Number.isSafeInteger(label)) this.fail(r, `"label" ${label} is not an integer class; labels are strings or integers`);
      this.firstNumber ??= r.line;
      if (this.firstString !== undefined) this.fail(r, `"label" is a number, but the label on line ${this.firstString} is a string; use one kind for every label`);
    } else {
      this.fail(r, `"label" must be a string or an integer, got ${kindOf(label)}`);
    }
    this.examples.push({ text, label });
  }

  finish(): TrainExample[] | string[] {
    const n = this.family === 'bert' ? this.examples.length : this.texts.length;
    if (n === 0) throw new TrainDataError('no examples: the data is empty (or only blank lines)');
    return this.family === 'bert' ? this.examples : this.texts;
  }
}

/** RFC 4180 records: fields of each record with the line it starts on. */
function csvRows(body: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let line = 1;
  let i = 0;
  const n = body.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (body[i] === '"') {
        const opened = line;
        i++;
        for (;;) {
          if (i >= n) throw new TrainDataError('a quoted field opens here and never closes (a missing closing quote)', opened);
          const c = body[i];
          if (c === '"') {
            if (body[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        // After the closing quote only a separator or the end of the record may follow.
        if (i < n && body[i] !== ',' && body[i] !== '\n' && !(body[i] === '\r' && (body[i + 1] === '\n' || i + 1 === n))) {
          throw new TrainDataError('text after a closing quote; a quote inside a quoted field is written twice ("")', line);
        }
      } else {
        while (i < n && body[i] !== ',' && body[i] !== '\n') {
          if (body[i] === '"') throw new TrainDataError('a quote inside an unquoted field; quote the whole field and write the quote twice ("")', line);
          field += body[i];
          i++;
        }
        if (field.endsWith('\r') && (i >= n || body[i] === '\n')) field = field.slice(0, -1);
      }
      fields.push(field);
      if (i < n && body[i] === ',') {
        i++;
        continue;
      }
      if (i < n && body[i] === '\r') i++;
      if (i < n && body[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    rows.push({ line: start, fields });
  }
  return rows;
}

function csvRecords(body: string, family: TrainDataFamily): RawRecord[] {
  const rows = csvRows(body).filter((r) => r.fields.some((f) => f.trim().length > 0));
  if (rows.length === 0) return [];
  const header = rows[0];
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const column = (name: string): number => {
    const at = names.indexOf(name);
    if (at >= 0 && names.indexOf(name, at + 1) >= 0) throw new TrainDataError(`the header row names the column "${name}" twice`, header.line);
    return at;
  };
  const textAt = column('text');
  const labelAt = column('label');
  const columns = header.fields.map((f) => JSON.stringify(f)).join(', ');
  if (textAt < 0) throw new TrainDataError(`the header row has no "text" column (a header row is required; it has ${columns})`, header.line);
  if (family === 'bert' && labelAt < 0) throw new TrainDataError(`the header row has no "label" column, which hBERT data needs (it has ${columns})`, header.line);
  return rows.slice(1).map((r) => {
    if (r.fields.length !== header.fields.length) {
      throw new TrainDataError(`${r.fields.length} field${r.fields.length === 1 ? '' : 's'}, but the header row has ${header.fields.length} (a field with a comma or a line break must be quoted)`, r.line);
    }
    const value: Record<string, string> = { text: r.fields[textAt] };
    if (labelAt >= 0) value.label = r.fields[labelAt];
    return { line: r.line, value };
  });
}
