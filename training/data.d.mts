// Types of training/data.mjs for the TypeScript that reads the splits (benchmarks, tests).
export type Split = 'train' | 'validation' | 'test';

export interface Mail {
  readonly id: string;
  readonly group: string;
  readonly label: 'spam' | 'ham';
  readonly split: Split;
  readonly text: string;
}
export interface Speech {
  readonly id: string;
  readonly year: number;
  readonly name: string;
  readonly slug: string;
  readonly party: string;
  readonly split: Split;
  readonly text: string;
}
export interface Chapter {
  readonly id: string;
  readonly chapter: string;
  readonly split: Split;
  readonly text: string;
}
export interface Example {
  readonly text: string;
  readonly label: string;
  readonly split: Split;
  readonly doc: string;
}
export interface ClassificationTask {
  readonly task: 'spam' | 'party' | 'era';
  readonly domain: string;
  readonly labels: readonly string[];
  readonly examples: readonly Example[];
}
export interface Corpora {
  readonly mail: readonly Mail[];
  readonly speeches: readonly Speech[];
  readonly moby: readonly Chapter[];
}

export function hash32(s: string): number;
export function sha256(s: string): string;
export function cleanMail(raw: string): string;
export function loadMail(): Mail[];
export function slug(name: string): string;
export function loadSpeeches(): Speech[];
export function loadMoby(): Chapter[];
export function passages(text: string, words?: number): string[];
export const MIN_PARTY_SPEECHES: number;
export const MIN_STYLE_SPEECHES: number;
export function eras(speeches: readonly Speech[]): { labels: string[]; of: (year: number) => string };
export function classificationTasks(data?: Corpora): ClassificationTask[];
export function stylePresidents(speeches: readonly Speech[]): { slug: string; name: string; speeches: Speech[] }[];
export function loadAll(): Corpora;
export function evenSample<T>(list: readonly T[], n: number): T[];
