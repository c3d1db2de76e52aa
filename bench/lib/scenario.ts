import type { BenchContext } from './context.js';

/**
 * One benchmark figure. `run` is called once per slice (interleaved with the other
 * scenarios); `report` fills its part of the results once every slice has run.
 */
export interface Scenario {
  readonly name: string;
  run(c: BenchContext): Promise<void>;
  report(c: BenchContext): Promise<void>;
}
