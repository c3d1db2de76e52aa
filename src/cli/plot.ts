import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { nodeGpu } from '../gpu/node.js';
import { directorySource, loadAdapter, loadModelConfig } from '../formats/model-source.js';
import { DirChunkStore } from '../knowledge/domain/chunk-store.js';
import { PlotStore } from '../knowledge/domain/plot-store.js';
import { MemoryTenantStore } from '../knowledge/task/store-memory.js';
import type { PlotBuildReport, PlotDeviation, ProgressCallback } from '../runtime/api.js';
import { GENERAL_DOMAIN } from '../runtime/domains.js';
import { createRuntime } from '../create-runtime.js';
import { parseSplit, stringFlag, type ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

export const PLOT_VALUED = new Set(['model', 'corpus', 'store', 'domain', 'budget', 'split', 'lower-adapter']);
export const PLOT_SWITCHES = new Set(['json']);

/**
 * `sameAsExact`: inherit cannot differ from exact here, so no number would measure anything;
 * `reason` says why. `deviation` is absent when there was nothing to run.
 */
export interface PlotDeviationResult {
  readonly command: 'deviation';
  readonly domain: string;
  readonly sameAsExact: boolean;
  readonly reason?: string;
  readonly deviation?: PlotDeviation;
}

export type PlotCliResult = { readonly command: 'build'; readonly report: PlotBuildReport } | PlotDeviationResult;

/** One text per line; blank lines carry no tokens and are skipped. */
async function readCorpus(path: string): Promise<string[]> {
  const lines = (await readFile(resolve(path), 'utf8')).split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) throw new UsageError(`--corpus ${path} has no text lines`);
  return lines;
}

/**
 * `hmi plot build`: a domain's PLOT computed from a corpus and stored in a directory (chunks a
 * runtime loads lazily: createRuntime({ plotSource: dir }) read-only, or createRuntime({ plotStore:
 * new PlotStore(new DirChunkStore(dir)) }) to keep writing there). The directory also holds its
 * listing (files.json), so it can be served as is and read by URL: createRuntime({ plotSource: url }).
 * Builds of several domains may share one directory.
 * `hmi plot deviation`: policy inherit against exact at a domain with its own lower layers,
 * on the tables stored there. The domain is a child of the general domain (the root).
 */
export async function runPlot(args: ParsedArgs, progress: ProgressCallback): Promise<PlotCliResult> {
  const sub = args.command;
  if (sub !== 'build' && sub !== 'deviation') throw new UsageError(`plot needs a subcommand: build or deviation${sub ? `, got "${sub}"` : ''}`);
  const modelDir = stringFlag(args, 'model');
  if (!modelDir) throw new UsageError(`plot ${sub} needs --model <dir>`);
  const corpusPath = stringFlag(args, 'corpus');
  if (!corpusPath) throw new UsageError(`plot ${sub} needs --corpus <file> (one text per line)`);
  const storeDir = stringFlag(args, 'store');
  if (!storeDir) throw new UsageError(`plot ${sub} needs --store <dir> (where PLOT tables are kept)`);
  const domain = stringFlag(args, 'domain') ?? GENERAL_DOMAIN;
  const budgetText = stringFlag(args, 'budget');
  if (budgetText !== undefined && !/^\d+$/.test(budgetText)) throw new UsageError(`--budget must be a non-negative integer, got "${budgetText}"`);
  if (budgetText !== undefined && domain === GENERAL_DOMAIN) throw new UsageError('--budget applies to a --domain of your own; the general domain keeps its 20,000 entries');
  const lowerDir = stringFlag(args, 'lower-adapter');
  if (lowerDir && domain === GENERAL_DOMAIN) throw new UsageError('--lower-adapter belongs to a --domain other than the general one (the base model\'s lower layers)');
  if (sub === 'deviation' && domain === GENERAL_DOMAIN) throw new UsageError('plot deviation needs --domain <id>: the general domain has no ancestor to inherit from');

  const corpus = await readCorpus(corpusPath);
  const source = directorySource(resolve(modelDir));
  // The runtime reads the weights; the flags need only the config.
  const config = await loadModelConfig(source);
  const splitText = stringFlag(args, 'split');
  const split = splitText === undefined ? undefined : parseSplit(splitText, config.numLayers);
  const lowerAdapter = lowerDir ? await loadAdapter(directorySource(resolve(lowerDir)), config) : undefined;
  // The domain's parent is the general domain, whose lower layers are the base model's: without
  // lower layers of its own, what inherit serves is exactly what exact computes.
  if (sub === 'deviation' && lowerAdapter === undefined) {
    return {
      command: 'deviation',
      domain,
      sameAsExact: true,
      reason: `no lower adapter of its own between ${domain} and its nearest PLOT ancestor (${GENERAL_DOMAIN}): inherit serves the same values as exact (give --lower-adapter to measure one)`,
    };
  }
  const runtime = await createRuntime({
    gpu: await nodeGpu(),
    model: resolve(modelDir),
    store: new MemoryTenantStore(),
    plotStore: new PlotStore(new DirChunkStore(resolve(storeDir))),
    // One build per process: timing the matmul variants would cost more than it saves.
    autotune: false,
    ...(split !== undefined ? { split } : {}),
  });
  try {
    if (domain !== GENERAL_DOMAIN) {
      await runtime.domains.add({
        id: domain,
        ...(budgetText !== undefined ? { budgetEntries: Number(budgetText) } : {}),
        ...(lowerAdapter ? { lowerAdapter } : {}),
      });
    }
    if (sub === 'build') return { command: 'build', report: await runtime.domains.build(domain, corpus, progress) };
    const deviation = await runtime.domains.deviation(domain, corpus, progress);
    if (deviation.inheritedRows > 0) return { command: 'deviation', domain, sameAsExact: false, deviation };
    return {
      command: 'deviation',
      domain,
      sameAsExact: true,
      reason: `none of the corpus's ${deviation.rows} tokens was served from ${GENERAL_DOMAIN}'s stored PLOT (build it first: hmi plot build), so inherit computed the same values as exact`,
      deviation,
    };
  } finally {
    await runtime.dispose();
  }
}
