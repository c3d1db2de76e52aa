import { describe, expect, it } from 'vitest';
import { AdapterLimitError, HmiError } from '../../src/errors.js';
import { ModelLoadError } from '../../src/formats/errors.js';
import { QueueFullError, TrainingAbortedError, UnknownTenantError } from '../../src/runtime/errors.js';
import { WorkerCrashedError } from '../../src/worker/errors.js';
import { TrainingShapeError } from '../../src/training/errors.js';
import { fromWireError, isWireError, toWireError } from '../../src/worker/protocol.js';

/** What the worker boundary does to a thrown error: wire form, structured clone, rebuild. */
function roundTrip(e: unknown): Error {
  const wire = structuredClone(toWireError(e));
  expect(isWireError(wire)).toBe(true);
  return fromWireError(wire);
}

describe('errors across the worker boundary', () => {
  it('rebuilds the project classes with name, code, message and fields', () => {
    const q = roundTrip(new QueueFullError(17));
    expect(q).toBeInstanceOf(QueueFullError);
    expect(q).toBeInstanceOf(HmiError);
    expect(q).toMatchObject({ name: 'QueueFullError', code: 'QUEUE_FULL', capacity: 17 });
    expect(q.message).toBe(new QueueFullError(17).message);

    const a = roundTrip(new AdapterLimitError('maxBufferSize', 100, 50));
    expect(a).toBeInstanceOf(AdapterLimitError);
    expect(a).toMatchObject({ code: 'ADAPTER_LIMIT', limit: 'maxBufferSize', required: 100, available: 50 });

    const m = roundTrip(new ModelLoadError('config.json', '/models/x/', 'HTTP 404'));
    expect(m).toBeInstanceOf(ModelLoadError);
    expect(m).toMatchObject({ file: 'config.json', location: '/models/x/' });

    expect(roundTrip(new UnknownTenantError('t9'))).toMatchObject({ name: 'UnknownTenantError', tenantId: 't9' });
    expect(roundTrip(new WorkerCrashedError('gone'))).toBeInstanceOf(WorkerCrashedError);
    const t = roundTrip(new TrainingShapeError('the base model has no pooler'));
    expect(t).toBeInstanceOf(TrainingShapeError);
    expect(t).toMatchObject({ name: 'TrainingShapeError', code: 'TRAINING_UNSUPPORTED' });
  });

  it('rebuilds an HmiError that renamed itself (an AbortError-named one) as its class, with its name', () => {
    const e = new TrainingAbortedError('t1');
    e.name = 'AbortError';
    const back = roundTrip(e);
    expect(back).toBeInstanceOf(TrainingAbortedError);
    expect(back).toMatchObject({ name: 'AbortError', code: 'TRAINING_ABORTED', tenantId: 't1' });
    expect(roundTrip(new TrainingAbortedError('t2'))).toMatchObject({ name: 'TrainingAbortedError', tenantId: 't2' });
  });

  it('keeps name and code of HmiError subclasses it does not know', () => {
    class PlotBudgetError extends HmiError {
      constructor() {
        super('PLOT_BUDGET', 'over budget');
      }
    }
    const e = roundTrip(new PlotBudgetError());
    expect(e).toBeInstanceOf(HmiError);
    expect(e).toMatchObject({ name: 'PlotBudgetError', code: 'PLOT_BUDGET', message: 'over budget' });
  });

  it('keeps built-in error classes and turns thrown non-errors into Errors', () => {
    expect(roundTrip(new RangeError('bad split'))).toBeInstanceOf(RangeError);
    const plain = roundTrip(new Error('plain'));
    expect(plain.name).toBe('Error');
    expect(plain).not.toBeInstanceOf(HmiError);
    const s = roundTrip('a string');
    expect(s).toBeInstanceOf(Error);
    expect(s.message).toBe('a string');
  });

  it('drops fields that cannot be cloned rather than failing to post', () => {
    const e = Object.assign(new QueueFullError(1), { callback: () => 1, nested: { a: 1 } });
    const back = roundTrip(e) as unknown as Record<string, unknown>;
    expect(back.callback).toBeUndefined();
    expect(back.nested).toBeUndefined();
    expect(back.capacity).toBe(1);
  });
});
