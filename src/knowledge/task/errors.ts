/** Errors of task knowledge: adapter validation, the tenant store, the GPU adapter pool. */
import { HmiError } from '../../errors.js';

/** An adapter cannot be registered: non-finite weights, inconsistent shapes, out of f16 range... */
export class InvalidAdapterError extends HmiError {
  constructor(
    readonly tenantId: string,
    reason: string,
  ) {
    super('INVALID_ADAPTER', `adapter of tenant "${tenantId}" is invalid: ${reason}`);
  }
}

/** A stored record does not decode or its checksum does not match: the stored bytes were damaged. */
export class CorruptTenantRecordError extends HmiError {
  constructor(
    readonly tenantId: string,
    reason: string,
  ) {
    super('CORRUPT_TENANT_RECORD', `stored record of tenant "${tenantId}" is corrupt: ${reason}; register the tenant again`);
  }
}

/** The tenant store failed to read or write (I/O error, blocked database...). */
export class TenantStoreError extends HmiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TENANT_STORE', message, options);
  }
}

/**
 * The tenant store ran out of quota or disk. The batch stopped at `stored` records: those,
 * and everything stored before, are intact; the rest were not written.
 */
export class TenantStoreFullError extends HmiError {
  constructor(
    readonly stored: number,
    readonly requested: number,
    options?: { cause?: unknown },
  ) {
    super(
      'TENANT_STORE_FULL',
      `tenant store is full (storage quota or disk exhausted): stored ${stored} of ${requested} tenants; free space or remove tenants`,
      options,
    );
  }
}

/** A tenant needs more pool pages than the whole GPU adapter pool (or one pool buffer) holds. */
export class TenantTooLargeError extends HmiError {
  constructor(
    readonly tenantId: string,
    readonly bytesNeeded: number,
    readonly bytesAvailable: number,
  ) {
    super(
      'TENANT_TOO_LARGE',
      `tenant "${tenantId}" needs ${bytesNeeded} bytes of GPU adapter pool but the pool holds at most ${bytesAvailable} per tenant; lower its rank or raise the pool budget`,
    );
  }
}

/**
 * Loading a tenant would need pages held by pinned tenants (the running batch). The
 * scheduler should split the batch; nothing was evicted.
 */
export class PoolExhaustedError extends HmiError {
  constructor(
    readonly tenantId: string,
    readonly bytesNeeded: number,
    readonly bytesPinned: number,
    readonly bytesTotal: number,
  ) {
    super(
      'POOL_EXHAUSTED',
      `GPU adapter pool cannot fit tenant "${tenantId}" (${bytesNeeded} bytes): ${bytesPinned} of ${bytesTotal} bytes are pinned by running batches; split the batch`,
    );
  }
}

/** A tenant used by a batch is not in the GPU adapter pool (or not pinned while a batch needs it). */
export class TenantNotResidentError extends HmiError {
  constructor(
    readonly tenantId: string,
    reason = 'is not resident in the GPU adapter pool',
  ) {
    super('TENANT_NOT_RESIDENT', `tenant "${tenantId}" ${reason}`);
  }
}

/** A pinned tenant (used by a running batch) cannot be replaced or evicted. */
export class TenantPinnedError extends HmiError {
  constructor(
    readonly tenantId: string,
    action: string,
  ) {
    super('TENANT_PINNED', `cannot ${action} tenant "${tenantId}": it is pinned by a running batch`);
  }
}
