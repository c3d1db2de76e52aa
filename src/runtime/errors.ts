import { HmiError } from '../errors.js';

// Shared with the model layer (KV block counts), so it lives with the base errors.
export { InvalidInputError } from '../errors.js';

/** The bounded queue is full: back-pressure, retry later. Rejected at once, never queued. */
export class QueueFullError extends HmiError {
  constructor(readonly capacity: number) {
    super('QUEUE_FULL', `request queue is full (${capacity} waiting); retry later`);
  }
}

export class UnknownTenantError extends HmiError {
  constructor(readonly tenantId: string) {
    super('UNKNOWN_TENANT', `no tenant with id "${tenantId}" is registered`);
  }
}


/** The runtime was disposed while the request waited or ran. */
export class RuntimeDisposedError extends HmiError {
  constructor() {
    super('RUNTIME_DISPOSED', 'the runtime was disposed');
  }
}

/** A request could not be completed (e.g. its batch failed on the GPU and could not be re-run). */
export class RequestFailedError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REQUEST_FAILED', message, options);
  }
}

/** A re-registered tenant's old adapter is still pinned by a running batch; retried after it. */
export class TenantBusyError extends HmiError {
  constructor(readonly tenantId: string) {
    super('TENANT_BUSY', `tenant "${tenantId}" is being replaced while a batch uses its previous adapter`);
  }
}

/** The store did not answer a tenant's read in time (a blocked database): its requests wait for the next batch. */
export class StoreSlowError extends HmiError {
  constructor(
    readonly tenantId: string,
    readonly waitedMs: number,
  ) {
    super('STORE_SLOW', `tenant "${tenantId}": the store did not answer within ${waitedMs} ms`);
  }
}

/** `tenants.train` was aborted by its signal; nothing was stored. */
export class TrainingAbortedError extends HmiError {
  constructor(readonly tenantId: string) {
    super('TRAINING_ABORTED', `training of tenant "${tenantId}" was aborted; nothing was stored`);
  }
}
