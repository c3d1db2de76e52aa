import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { HmiRuntimeApi, TrainProgress, TrainResult, TrainSpec } from '../../src/runtime/api.js';
import { InvalidInputError, TrainingAbortedError } from '../../src/runtime/errors.js';
import { WorkerRuntime } from '../../src/worker/client.js';
import { createHost } from '../../src/worker/host.js';

interface Seen {
  spec: Omit<TrainSpec, 'signal'>;
  hadSignal: boolean;
  aborted: boolean;
}

/**
 * tenants.train as the boundary must carry it: progress, a result holding Maps and
 * Float32Arrays, an abort that reaches the training through its signal, error classes. Data
 * ["wait"] trains until aborted; data [] is refused.
 */
function stubRuntime(seen: Seen[]): HmiRuntimeApi {
  const rt = {
    tenants: {
      async train(spec: TrainSpec, onProgress?: (p: TrainProgress) => void): Promise<TrainResult> {
        const { signal, ...rest } = spec;
        const entry: Seen = { spec: rest, hadSignal: signal instanceof AbortSignal, aborted: false };
        seen.push(entry);
        if (spec.data.length === 0) throw new InvalidInputError('no training data');
        const base = { phase: 'train' as const, epoch: 1, epochs: 1, steps: 2, tokensPerSecond: 100, elapsedMs: 5 };
        onProgress?.({ ...base, step: 1, loss: 0.9 });
        if (spec.data[0] === 'wait') {
          await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
          entry.aborted = true;
          throw new TrainingAbortedError(spec.id);
        }
        onProgress?.({ ...base, step: 2, loss: 0.5, validation: { metric: 'accuracy', value: 0.75 } });
        const A = Float32Array.from([1, 2, 3, 4]);
        const B = Float32Array.from([5, 6]);
        return {
          tenantId: spec.id,
          family: 'bert',
          labels: ['ham', 'spam'],
          examples: spec.data.length,
          validationExamples: 0,
          steps: 2,
          epochs: 1,
          bestEpoch: 1,
          history: [{ epoch: 1, loss: 0.7 }],
          tokens: 40,
          seconds: 0.01,
          tokensPerSecond: 4000,
          adapter: {
            modules: new Map([['encoder.layer.1.attention.self.query', { r: 2, inDim: 2, outDim: 1, scale: 2, A, B }]]),
            head: new Map([['classifier.weight', { shape: [2, 2], data: Float32Array.from([0.5, -0.5, 0.25, 1]) }]]),
            labels: ['ham', 'spam'],
          },
        };
      },
    },
    async dispose(): Promise<void> {},
  };
  return rt as unknown as HmiRuntimeApi;
}

let runtime: WorkerRuntime | null = null;

function connect(seen: Seen[]): WorkerRuntime {
  const { port1, port2 } = new MessageChannel();
  Comlink.expose(
    createHost(async () => stubRuntime(seen), () => port2.close()),
    port2 as unknown as Comlink.Endpoint,
  );
  const worker = Object.assign(port1, { terminate: () => port1.close() }) as unknown as Worker;
  runtime = new WorkerRuntime({ createWorker: () => worker, heartbeatMs: 60_000 });
  return runtime;
}

afterEach(async () => {
  await runtime?.dispose();
  runtime = null;
});

describe('tenants.train across the worker boundary (client + host over a MessageChannel)', () => {
  it('sends the spec without its signal, streams progress and returns the adapter with its Maps and Float32Arrays', async () => {
    const seen: Seen[] = [];
    const rt = connect(seen);
    const progress: TrainProgress[] = [];
    const data = [
      { text: 'win a cruise', label: 'spam' },
      { text: 'lunch?', label: 'ham' },
    ];
    const r = await rt.tenants.train({ id: 'mine', domain: 'email', data, rank: 4, epochs: 1, seed: 3, validation: 0.25, signal: new AbortController().signal }, (p) => progress.push(p));
    expect(seen).toHaveLength(1);
    expect(seen[0].spec).toEqual({ id: 'mine', domain: 'email', data, rank: 4, epochs: 1, seed: 3, validation: 0.25 });
    // The worker's runtime gets a signal of its own (the host's), whatever the caller passed.
    expect(seen[0].hadSignal).toBe(true);
    expect(progress.map((p) => [p.step, p.loss])).toEqual([
      [1, 0.9],
      [2, 0.5],
    ]);
    expect(progress[1].validation).toEqual({ metric: 'accuracy', value: 0.75 });
    expect(r.tenantId).toBe('mine');
    expect(r.labels).toEqual(['ham', 'spam']);
    const q = r.adapter.modules.get('encoder.layer.1.attention.self.query')!;
    expect(r.adapter.modules).toBeInstanceOf(Map);
    expect(q.A).toBeInstanceOf(Float32Array);
    expect(Array.from(q.A)).toEqual([1, 2, 3, 4]);
    expect(Array.from(q.B)).toEqual([5, 6]);
    expect(r.adapter.head.get('classifier.weight')!.data).toBeInstanceOf(Float32Array);
    expect(r.adapter.labels).toEqual(['ham', 'spam']);
  });

  it('an abort on this side stops the training in the worker, and TrainingAbortedError arrives as its class', async () => {
    const seen: Seen[] = [];
    const rt = connect(seen);
    const ac = new AbortController();
    const progress: number[] = [];
    const p = rt.tenants.train({ id: 'slow', data: ['wait'], signal: ac.signal }, (x) => {
      progress.push(x.step);
      ac.abort();
    });
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TrainingAbortedError);
    expect(e).toMatchObject({ name: 'TrainingAbortedError', code: 'TRAINING_ABORTED', tenantId: 'slow' });
    expect(seen[0].aborted).toBe(true);
    expect(progress).toEqual([1]);
  });

  it('a signal aborted before the call rejects at once and sends nothing; other errors keep their class', async () => {
    const seen: Seen[] = [];
    const rt = connect(seen);
    const ac = new AbortController();
    ac.abort();
    await expect(rt.tenants.train({ id: 'never', data: ['a text'], signal: ac.signal })).rejects.toThrow(TrainingAbortedError);
    await expect(rt.tenants.train({ id: 'empty', data: [] })).rejects.toThrow(InvalidInputError);
    expect(seen.map((s) => s.spec.id)).toEqual(['empty']);
  });
});
