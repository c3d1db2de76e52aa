#!/usr/bin/env node
// The `hmi` command. Runs the TypeScript sources directly (no build step): tsx compiles them,
// and bin/wgsl-hook.mjs serves the `*.wgsl?raw` shader imports.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered after tsx so that it runs first (the last registered hook is outermost).
register('./wgsl-hook.mjs', import.meta.url);

const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Dawn keeps the event loop alive after the work is done.
process.exit(code);
