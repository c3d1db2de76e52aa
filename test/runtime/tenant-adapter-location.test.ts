// tenants.add takes a tenant's PEFT adapter by location (directory, URL, ModelSource) and reads
// it against the runtime's own base model: the same answers as the parsed adapter, all-or-nothing.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/create-runtime.js';
import { HmiError } from '../../src/errors.js';
import type { BertConfig } from '../../src/formats/model-config.js';
import { directorySource, loadAdapter, loadModelConfig } from '../../src/formats/model-source.js';
import { nodeGpu } from '../../src/gpu/node.js';
import { MemoryTenantStore } from '../../src/knowledge/task/store-memory.js';
import { makeAdapterFiles } from '../../src/model/synthetic.js';
import type { HmiRuntimeApi } from '../../src/runtime/api.js';
import { InvalidInputError, UnknownTenantError } from '../../src/runtime/errors.js';
import { writeBertDir } from '../helpers/models.js';

const TEXT = 'the river ran under the old bridge';

let rt: HmiRuntimeApi;
let config: BertConfig;
let adapterDir: string;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const modelDir = await writeBertDir({ hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, maxPositions: 64 });
  config = (await loadModelConfig(directorySource(modelDir))) as BertConfig;
  rt = await createRuntime({ gpu: await nodeGpu(), model: modelDir, store: new MemoryTenantStore(), autotune: false });
  adapterDir = await mkdtemp(join(tmpdir(), 'hmi-adapter-loc-'));
  for (const [name, content] of Object.entries(makeAdapterFiles(config, { rank: 2, labels: ['no', 'yes'], seed: 4 }))) await writeFile(join(adapterDir, name), content);
  server = createServer((req, res) => {
    readFile(join(adapterDir, (req.url ?? '/').slice(1)))
      .then((b) => res.end(b))
      .catch(() => {
        res.statusCode = 404;
        res.end();
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await rt?.dispose();
  await new Promise<void>((r) => server?.close(() => r()));
});

describe('tenants.add with an adapter location', () => {
  it('reads a directory, a URL and a ModelSource against the loaded base: the same answers as the parsed adapter', async () => {
    const parsed = await loadAdapter(directorySource(adapterDir), config);
    await rt.tenants.add([
      { id: 'parsed', adapter: parsed },
      { id: 'by-dir', adapter: adapterDir },
      { id: 'by-url', adapter: baseUrl },
      { id: 'by-source', adapter: directorySource(adapterDir) },
    ]);
    const want = await rt.classify('parsed', TEXT);
    for (const id of ['by-dir', 'by-url', 'by-source']) {
      const got = await rt.classify(id, TEXT);
      expect(got.scores).toEqual(want.scores);
      expect(got.label).toBe(want.label);
    }
    expect(want.label === 'no' || want.label === 'yes').toBe(true);
  });

  it('a bad location is a named error and registers nothing of the batch', async () => {
    await expect(rt.tenants.add([{ id: 'ok-1', adapter: adapterDir }, { id: 'missing', adapter: join(adapterDir, 'nope') }])).rejects.toBeInstanceOf(HmiError);
    await expect(rt.classify('ok-1', TEXT)).rejects.toBeInstanceOf(UnknownTenantError);
    await expect(rt.tenants.add({ id: 'empty', adapter: '' })).rejects.toBeInstanceOf(InvalidInputError);
  });
});

