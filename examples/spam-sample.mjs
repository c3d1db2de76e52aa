// Writes examples/spam-sample.jsonl: 40 short mails (20 ham, 20 spam) of the SpamAssassin
// corpus's TRAIN split, as training/data.mjs cleans and splits it (Subject + body, headers
// dropped), for `hmi train` and the dashboard's train panel. Short mails (8 to 60 words) keep
// the example quick and within hbert-mini's 128 positions; mails with undecodable characters
// (U+FFFD, mis-declared charsets: more than two non-ASCII characters) or adult content are left
// out of a file people open to look at.
// The pick is by a hash of the mail id, so the file is the same on every run.
// Usage: node examples/spam-sample.mjs
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hash32, loadMail } from '../training/data.mjs';

const PER_LABEL = 20;
const words = (t) => t.split(/\s+/).filter(Boolean).length;
const ADULT = /\b(sex\w*|porn\w*|x ?x ?x|nude\w*|naked|adult|erotic\w*|viagra|teens?|girls?|vagina\w*|hot|babes?|sweetie|horny|lesbian\w*|dating|singles|attract|women)\b/i;
const readable = (t) => (t.match(/[^\x00-\x7f]/g) ?? []).length <= 2;
const train = loadMail().filter((m) => m.split === 'train' && words(m.text) >= 8 && words(m.text) <= 60 && readable(m.text) && !ADULT.test(m.text));
const pick = (label) =>
  train
    .filter((m) => m.label === label)
    .sort((a, b) => hash32(a.id) - hash32(b.id) || (a.id < b.id ? -1 : 1))
    .slice(0, PER_LABEL);
const ham = pick('ham');
const spam = pick('spam');
// Interleaved, so any slice of the file (a held-out tail, a first look) has both labels.
const lines = ham.flatMap((h, i) => [h, spam[i]]).map((m) => JSON.stringify({ text: m.text, label: m.label }));
writeFileSync(fileURLToPath(new URL('spam-sample.jsonl', import.meta.url)), `${lines.join('\n')}\n`);
console.log(`wrote ${lines.length} examples (${ham.length} ham, ${spam.length} spam)`);
