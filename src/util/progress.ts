/** Progress of long work (loading, building, importing), reported by every layer that does some. */
export interface Progress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}
export type ProgressCallback = (p: Progress) => void;
