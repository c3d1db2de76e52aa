import * as Comlink from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist, type Built } from './dist.js';

// The built library, typed as its sources (the build must not change what they export).
type Lib = typeof import('../../src/index.js');
type ErrorClass = new (...args: never[]) => Error;

let built: Built;
let lib: Lib;

beforeAll(async () => {
  built = await buildDist();
  lib = (await built.load('index.js')) as unknown as Lib;
});

afterAll(async () => {
  await built?.remove();
});

/** Every HmiError subclass the package exports, under its export name. */
function exportedErrorClasses(): [string, ErrorClass][] {
  const out: [string, ErrorClass][] = [];
  for (const [name, value] of Object.entries(lib as Record<string, unknown>)) {
    if (typeof value === 'function' && value.prototype instanceof lib.HmiError) out.push([name, value as ErrorClass]);
  }
  return out;
}

/** An instance whatever the constructor takes: strings for most, arrays for the few that list things. */
function instantiate(cls: ErrorClass): Error {
  const make = (args: unknown[]): Error => Reflect.construct(cls, args) as Error;
  try {
    return make(['a', 'b', 'c', 'd']);
  } catch {
    return make([['a'], ['b'], ['c'], ['d']]);
  }
}

// Thrown only on the caller's thread (loadBundle runs there, also in front of a worker runtime).
const MAIN_THREAD_ONLY = new Set(['BundleFormatError', 'BundleModelMismatchError']);

describe('error classes in the built library', () => {
  it('keeps every exported error class name, distinct and unminified', () => {
    const classes = exportedErrorClasses();
    expect(classes.length).toBeGreaterThan(30);
    for (const [exported, cls] of classes) expect(cls.name, exported).toBe(exported);
    expect(lib.HmiError.name).toBe('HmiError');
    expect(new Set(classes.map(([, c]) => c.name)).size).toBe(classes.length);
  });

  it('gives instances their class name and code', () => {
    const q = new lib.QueueFullError(8);
    expect(q).toMatchObject({ name: 'QueueFullError', code: 'QUEUE_FULL', capacity: 8 });
    expect(new lib.UnknownTenantError('t1')).toMatchObject({ name: 'UnknownTenantError', code: 'UNKNOWN_TENANT', tenantId: 't1' });
    for (const [exported, cls] of exportedErrorClasses()) {
      if (cls === lib.RemoteHmiError) continue; // named after the remote class it stands for
      const e = instantiate(cls);
      expect(e.name, exported).toBe(exported);
      expect((e as Error & { code?: unknown }).code, exported).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });

  it('rebuilds errors thrown across the worker boundary as their own classes', async () => {
    // The built client talks comlink to a host on a MessageChannel: the same wire as a Worker.
    // The host throws what toWireError makes of an instance of the built class.
    const { port1, port2 } = new MessageChannel();
    let next: Error = new Error('unset');
    const host = {
      ping: () => 1,
      init: () => undefined,
      info: () => {
        const e = next as Error & { code?: string };
        const fields = Object.fromEntries(Object.entries(e).filter(([k, v]) => k !== 'code' && typeof v !== 'object'));
        throw { __hmiWireError: true, name: e.name, code: e.code, message: e.message, fields };
      },
      dispose: () => undefined,
    };
    Comlink.expose(host, port2 as unknown as Comlink.Endpoint);
    const worker = Object.assign(port1, { terminate: () => port1.close() }) as unknown as Worker;
    const rt = new lib.WorkerRuntime({ createWorker: () => worker, heartbeatMs: 60_000 });
    try {
      for (const [exported, cls] of exportedErrorClasses()) {
        if (MAIN_THREAD_ONLY.has(exported) || cls === lib.RemoteHmiError) continue;
        next = instantiate(cls);
        const got = await rt.info().then(
          () => null,
          (e: unknown) => e,
        );
        expect(got, exported).toBeInstanceOf(cls);
        expect(got, exported).toBeInstanceOf(lib.HmiError);
        expect(got, exported).toMatchObject({ name: exported, code: (next as Error & { code: string }).code, message: next.message });
      }
      next = new lib.UnknownTenantError('ghost');
      await expect(rt.info()).rejects.toMatchObject({ name: 'UnknownTenantError', code: 'UNKNOWN_TENANT', tenantId: 'ghost' });
    } finally {
      await rt.dispose();
      port2.close();
    }
  });
});
