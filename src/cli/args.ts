import { UsageError } from './errors.js';

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly flags: ReadonlyMap<string, string | true>;
}

/**
 * `cmd --flag value --flag=value --switch`. Which flags take a value is given per command,
 * so a value that starts with "-" (a negative number) is still read as a value.
 */
export function parseArgs(argv: readonly string[], valued: ReadonlySet<string>, switches: ReadonlySet<string>): ParsedArgs {
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (command !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      command = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    if (switches.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (valued.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { command, flags };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** "101,7592,102" -> ids; anything but comma-separated non-negative integers is a usage error. */
export function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 1 && parts[0] === '') return [];
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`--input-ids: "${p}" is not a token id (expected comma-separated non-negative integers)`);
    return Number(p);
  });
}

export function parseSplit(text: string, numLayers: number): number {
  if (!/^\d+$/.test(text) || Number(text) > numLayers) throw new UsageError(`--split must be an integer in 0..${numLayers}, got "${text}"`);
  return Number(text);
}
