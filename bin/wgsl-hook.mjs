// Node module hooks for bin/hmi.mjs: `import code from './x.wgsl?raw'` (Vite's raw import,
// used by every kernel binding) becomes a module whose default export is the file's text.
import { readFile } from 'node:fs/promises';

const RAW = /\.wgsl\?raw$/;

export async function resolve(specifier, context, nextResolve) {
  if (RAW.test(specifier) && context.parentURL) {
    return { url: new URL(specifier, context.parentURL).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (RAW.test(url)) {
    const text = await readFile(new URL(url.slice(0, -'?raw'.length)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
