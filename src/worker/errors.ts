import { HmiError } from '../errors.js';

/**
 * The runtime's worker stopped answering (it threw at top level, failed to load, could not
 * deserialize a message, or missed its heartbeat). Every call in flight at that moment is
 * rejected with this error; the next call starts a fresh worker.
 */
export class WorkerCrashedError extends HmiError {
  constructor(readonly reason: string) {
    super('WORKER_CRASHED', `the runtime worker crashed: ${reason}`);
  }
}

/** An error thrown in the worker whose class is not known on this side: name and code survive. */
export class RemoteHmiError extends HmiError {
  constructor(name: string, code: string, message: string) {
    super(code, message);
    this.name = name;
  }
}
