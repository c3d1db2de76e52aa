import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { ClassifyOptions, ClassifyResult, HmiRuntimeApi, ModelInput, ScoreResult } from '../../src/runtime/api.js';
import { InvalidInputError } from '../../src/runtime/errors.js';
import { WorkerRuntime } from '../../src/worker/client.js';
import { createHost } from '../../src/worker/host.js';

/** Just what the boundary must carry for score() and classify()'s options; every call is recorded. */
function stubRuntime(calls: unknown[]): HmiRuntimeApi {
  const rt = {
    async classify(tenantId: string, input: ModelInput, options?: ClassifyOptions): Promise<ClassifyResult> {
      calls.push(['classify', tenantId, input, options]);
      return { tenantId, label: 'b', labelIndex: 1, scores: [0.25, 0.75], tokens: 3, latencyMs: 1 };
    },
    async score(tenantId: string, input: ModelInput): Promise<ScoreResult> {
      calls.push(['score', tenantId, input]);
      if (tenantId === 'bad') throw new InvalidInputError('scoring needs at least 2 tokens');
      return { tenantId, tokens: 3, logprobs: Float32Array.from([-1.5, -0.5]), meanLogprob: -1, perplexity: Math.E };
    },
    async dispose(): Promise<void> {},
  };
  return rt as unknown as HmiRuntimeApi;
}

describe('score() and classify options across the worker boundary (client + host over a MessageChannel)', () => {
  it('forwards ClassifyOptions, returns ScoreResult with its Float32Array, and keeps error classes', async () => {
    const calls: unknown[] = [];
    const { port1, port2 } = new MessageChannel();
    Comlink.expose(
      createHost(async () => stubRuntime(calls), () => port2.close()),
      port2 as unknown as Comlink.Endpoint,
    );
    const worker = Object.assign(port1, { terminate: () => port1.close() }) as unknown as Worker;
    const rt = new WorkerRuntime({ createWorker: () => worker, heartbeatMs: 60_000 });
    try {
      const c = await rt.classify('t', 'a long mail', { truncate: true });
      expect(c.scores).toEqual([0.25, 0.75]);
      await rt.classify('t', [2, 3]);
      const s = await rt.score('t', [5, 6, 7]);
      expect(s.logprobs).toBeInstanceOf(Float32Array);
      expect(Array.from(s.logprobs)).toEqual([-1.5, -0.5]);
      expect(s.perplexity).toBe(Math.E);
      await expect(rt.score('bad', [1])).rejects.toThrow(InvalidInputError);
      expect(calls).toEqual([
        ['classify', 't', 'a long mail', { truncate: true }],
        ['classify', 't', [2, 3], undefined],
        ['score', 't', [5, 6, 7]],
        ['score', 'bad', [1]],
      ]);
    } finally {
      await rt.dispose();
    }
  });
});
