import type { Gpt2Config } from '../formats/model-config.js';
import type { ParsedArgs } from './args.js';
import { singleRequestRuntime } from './generate.js';
import { CLI_TENANT, prepareTenant, registerTenant, TENANT_VALUED } from './tenant.js';

export const SCORE_VALUED = new Set<string>(TENANT_VALUED);
export const SCORE_SWITCHES = new Set(['json']);

export interface ScoreCliResult {
  readonly tokens: number;
  readonly perplexity: number;
  readonly meanLogprob: number;
}

/**
 * `hmi score`: runtime.score on an hGPT runtime sized for the one request (its whole position
 * table, since a --text's token count is the runtime's to find).
 */
export async function runScore(args: ParsedArgs): Promise<ScoreCliResult> {
  const t = await prepareTenant(args, 'score', 'gpt2', false);
  const P = (t.loaded.config as Gpt2Config).maxPositions;
  const rt = await singleRequestRuntime(t.loaded, t.modelDir, t.adapter, P, P, t.split);
  try {
    await registerTenant(rt, t);
    const r = await rt.score(CLI_TENANT, t.input);
    return { tokens: r.tokens, perplexity: r.perplexity, meanLogprob: r.meanLogprob };
  } finally {
    await rt.dispose();
  }
}
