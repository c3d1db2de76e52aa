import { resolve } from 'node:path';
import { HmiError } from '../errors.js';
import { directorySource, loadAdapter, loadModel, type LoadedModel } from '../formats/model-source.js';
import type { LoraAdapter } from '../formats/types.js';
import type { ModelConfig } from '../formats/model-config.js';
import type { DomainSpec, HmiRuntimeApi, ModelInput } from '../runtime/api.js';
import { GENERAL_DOMAIN } from '../runtime/domains.js';
import { parseIds, parseSplit, stringFlag, type ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

/** Flags of the commands that serve one tenant on a runtime (classify, score). */
export const TENANT_VALUED = ['model', 'adapter', 'text', 'input-ids', 'split', 'lower-adapter'] as const;

/** The one tenant such a command registers. */
export const CLI_TENANT = 'cli';
/** The domain a --lower-adapter defines (a child of the general domain). */
const CLI_DOMAIN = 'cli-domain';

export interface CliTenant<C extends ModelConfig> {
  readonly loaded: LoadedModel & { readonly config: C };
  readonly modelDir: string;
  readonly adapter: LoraAdapter;
  /** --text as is (the runtime tokenizes it), or --input-ids. */
  readonly input: ModelInput;
  /** The runtime's split, when the tenant runs the hPLM way. */
  readonly split: number | undefined;
  /** undefined = no domain: every layer runs. Otherwise the domain it names (and defines, if `define`). */
  readonly domain: { readonly id: string; readonly define?: DomainSpec } | undefined;
}

/**
 * Everything checked before a GPU device is opened: the flags, the model (of `family`), the
 * adapter, the input. Without --split or --lower-adapter the tenant has no domain and runs every
 * layer; with them it runs as the runtime serves a domain tenant: layers below the split from
 * PLOT (of the general domain, or of a domain whose lower layers are the --lower-adapter).
 */
export async function prepareTenant<F extends ModelConfig['family']>(
  args: ParsedArgs,
  command: string,
  family: F,
  adapterRequired: boolean,
): Promise<CliTenant<Extract<ModelConfig, { family: F }>>> {
  const modelDir = stringFlag(args, 'model');
  if (!modelDir) throw new UsageError(`${command} needs --model <dir>`);
  const adapterDir = stringFlag(args, 'adapter');
  if (adapterRequired && !adapterDir) throw new UsageError(`${command} needs --adapter <peft dir>`);
  const text = stringFlag(args, 'text');
  const idsText = stringFlag(args, 'input-ids');
  if ((text === undefined) === (idsText === undefined)) throw new UsageError(`${command} needs exactly one of --text and --input-ids`);
  const input: ModelInput = idsText !== undefined ? parseIds(idsText) : text!;
  const loaded = await loadModel(directorySource(resolve(modelDir)));
  const config = loaded.config;
  if (config.family !== family) {
    throw new HmiError('UNSUPPORTED_MODEL', `${modelDir} is a ${config.family} model; ${command} needs a ${family === 'bert' ? 'BERT' : 'GPT-2'} checkpoint`);
  }
  const splitText = stringFlag(args, 'split');
  const split = splitText === undefined ? undefined : parseSplit(splitText, config.numLayers);
  const lowerDir = stringFlag(args, 'lower-adapter');
  const adapter: LoraAdapter = adapterDir === undefined ? { modules: new Map(), head: new Map() } : await loadAdapter(directorySource(resolve(adapterDir)), config);
  const lowerAdapter = lowerDir === undefined ? undefined : await loadAdapter(directorySource(resolve(lowerDir)), config);
  let domain: CliTenant<ModelConfig>['domain'];
  if (lowerAdapter) domain = { id: CLI_DOMAIN, define: { id: CLI_DOMAIN, lowerAdapter } };
  else if (split !== undefined) domain = { id: GENERAL_DOMAIN };
  return { loaded: loaded as LoadedModel & { readonly config: Extract<ModelConfig, { family: F }> }, modelDir: resolve(modelDir), adapter, input, split, domain };
}

/** Registers the command's domain (if it defines one) and its tenant. */
export async function registerTenant(rt: HmiRuntimeApi, t: CliTenant<ModelConfig>): Promise<void> {
  if (t.domain?.define) await rt.domains.add(t.domain.define);
  await rt.tenants.add({ id: CLI_TENANT, adapter: t.adapter, ...(t.domain ? { domain: t.domain.id } : {}) });
}
