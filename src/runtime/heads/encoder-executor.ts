import { allocBuffer, readF32 } from '../../gpu/buffers.js';
import type { GpuContext } from '../../gpu/device.js';
import type { HeadsLayout, MultiTenantLora } from '../../knowledge/task/multi-lora.js';
import type { BertModel, BertOutputs } from '../../model/bert.js';
import type { ClassifyResult, EmbedResult } from '../api.js';
import { RequestFailedError, UnknownTenantError } from '../errors.js';
import type { AdapterPool } from '../../knowledge/task/pool.js';
import type { AdmittedRequest } from '../task-head.js';
import type { Registrations } from '../tenant-registry.js';
import type { PlotAssembler, PreparedBatch } from '../../knowledge/domain/assembler.js';

export type EncoderResult = ClassifyResult | EmbedResult;

export interface EncoderRequest extends AdmittedRequest<EncoderResult> {
  readonly kind: 'classify' | 'embed';
  /** The tenant's domain node, or '' for a tenant without one (it runs every layer). */
  readonly domain: string;
}

function softmax(logits: Float32Array, offset: number, n: number): number[] {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[offset + i]);
  const e = Array.from({ length: n }, (_, i) => Math.exp(logits[offset + i] - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** PLOT entries of a formed batch's domain requests, prepared while the previous batch ran. */
export interface StagedPlot {
  readonly requests: readonly EncoderRequest[];
  readonly prepared: PreparedBatch;
}

export type Served = { tenantId: string; tokens: number; latencyMs: number };

/**
 * Runs a batch of hBERT requests of many tenants: the base model's matmuls once over all
 * rows, each tenant's LoRA as segmented shrink/expand, then every request's own classifier
 * head in one batched dispatch. Requests of tenants with a domain take the two-phase hPLM
 * path: layers below the split come from PLOT (one gather-combine-LayerNorm dispatch), only
 * the upper layers run.
 */
export class EncoderExecutor {
  private logits: GPUBuffer | null = null;

  constructor(
    private readonly ctx: GpuContext,
    private readonly model: BertModel,
    private readonly lora: MultiTenantLora,
    private readonly registrations: Registrations,
    private readonly now: () => number,
    readonly assembler: PlotAssembler,
    private readonly split: number,
    private readonly pool: AdapterPool,
    private readonly record: (served: readonly Served[]) => void,
  ) {}

  /** The CPU and I/O half of phase 1 for the domain requests of a batch (none: undefined). */
  async stage(batch: readonly EncoderRequest[]): Promise<StagedPlot | undefined> {
    const requests = batch.filter((r) => r.domain !== '');
    if (requests.length === 0) return undefined;
    const prepared = await this.assembler.prefetch(requests.map((r) => ({ ids: r.ids, domain: r.domain })));
    return { requests, prepared };
  }

  /** Drops a staged preparation that will not run (its batch changed). */
  discard(staged: StagedPlot | undefined): void {
    if (staged) this.assembler.release(staged.prepared);
  }

  /**
   * Runs the batch and settles its requests. `launched` is called once the batch's GPU work
   * is queued (or it never will be): the caller's preparation of the next batch then no
   * longer delays this one's submit.
   */
  async run(batch: readonly EncoderRequest[], staged?: StagedPlot, launched?: () => void): Promise<Served[]> {
    const full = batch.filter((r) => r.domain === '');
    const plot = batch.filter((r) => r.domain !== '');
    const served: Served[] = [];
    try {
      // The parts share the model's workspace, so the first is read back before the second runs.
      if (full.length) served.push(...(await this.runPart(full, null, plot.length ? undefined : launched)));
      if (plot.length) {
        const fits = staged && staged.requests.length === plot.length && staged.requests.every((r, i) => r === plot[i]);
        if (staged && !fits) this.discard(staged);
        const ready = fits ? staged : await this.stage(plot);
        served.push(...(await this.runPart(plot, ready!.prepared, launched)));
      }
    } finally {
      launched?.();
    }
    return served;
  }

  private async runPart(batch: readonly EncoderRequest[], prepared: PreparedBatch | null, launched?: () => void): Promise<Served[]> {
    const packed = this.model.pack(batch.map((r) => ({ ids: r.ids })));
    const H = this.model.config.hiddenSize;
    const wantsHead = batch.some((r) => r.kind === 'classify');
    // Sized from the heads that will run (resident now), not from metadata that may be newer.
    const heads = batch.map((r) => this.pool.resident(r.tenantId));
    const maxLabels = Math.max(1, ...heads.map((t) => t?.layout.head?.numLabels ?? 0));
    const logitsBuf = wantsHead ? await this.logitsBuffer(batch.length * maxLabels * 4) : null;
    let headLayout: HeadsLayout = { maxLabels: 0, numLabels: [] };
    let noPooler = false;
    // The tenants' heads ride in the model's pass: one submit per batch.
    const epilogue = logitsBuf
      ? (pass: GPUComputePassEncoder, o: BertOutputs): void => {
          if (o.pooled) headLayout = this.lora.encodeHeads(pass, o.pooled, batch, logitsBuf);
          else noPooler = true;
        }
      : undefined;
    this.lora.setBatch(this.segments(batch, packed.starts, packed.lengths));
    let out: BertOutputs;
    try {
      out = prepared
        ? await this.model.runUpper(packed, this.split, (pass, residual) => this.assembler.encode(pass, prepared, residual), { lora: this.lora, epilogue })
        : await this.model.forward(packed, { lora: this.lora, epilogue });
    } finally {
      // After the submit that read the entries (or a failure before it): their slots may be reused.
      if (prepared) this.assembler.release(prepared);
    }
    launched?.();
    if (noPooler) throw new RequestFailedError('the base model has no pooler, so no classifier head can run');
    const stride = headLayout.maxLabels;
    const logits = logitsBuf && stride > 0 ? await readF32(this.ctx, logitsBuf, batch.length * stride) : null;
    const hidden = batch.some((r) => r.kind === 'embed') ? await readF32(this.ctx, out.hidden, packed.rows * H) : null;
    const t = this.now();
    const done: Served[] = [];
    const settle: (() => void)[] = [];
    batch.forEach((r, q) => {
      const latencyMs = t - r.enqueuedAt;
      if (r.kind === 'embed') {
        const rows = packed.lengths[q];
        const slice = hidden!.slice(packed.starts[q] * H, (packed.starts[q] + rows) * H);
        settle.push(() => r.resolve({ tenantId: r.tenantId, hidden: slice, shape: [rows, H] }));
      } else {
        const m = this.registrations.get(r.tenantId);
        if (!m) {
          settle.push(() => r.reject(new UnknownTenantError(r.tenantId)));
          return;
        }
        // The label count and names of the head that ran, whatever the registration says now.
        const n = headLayout.numLabels[q] ?? 0;
        if (!logits || n === 0) {
          settle.push(() => r.reject(new RequestFailedError(`tenant ${r.tenantId} has no classifier head`)));
          return;
        }
        const scores = softmax(logits, q * stride, n);
        let best = 0;
        for (let i = 1; i < n; i++) if (scores[i] > scores[best]) best = i;
        const names = heads[q]?.labels;
        const label = (names?.length === n ? names[best] : undefined) ?? `LABEL_${best}`;
        settle.push(() => r.resolve({ tenantId: r.tenantId, label, labelIndex: best, scores, tokens: r.tokens, latencyMs }));
      }
      done.push({ tenantId: r.tenantId, tokens: r.tokens, latencyMs });
    });
    // Metrics first, so a caller reading metrics() right after its answer sees its request counted.
    this.record(done);
    for (const f of settle) f();
    return done;
  }

  /** Requests of one tenant are adjacent in a formed batch; merge them into one segment. */
  private segments(batch: readonly EncoderRequest[], starts: readonly number[], lengths: readonly number[]) {
    const segs: { tenantId: string; rowStart: number; rowCount: number }[] = [];
    batch.forEach((r, q) => {
      const last = segs[segs.length - 1];
      if (last && last.tenantId === r.tenantId && last.rowStart + last.rowCount === starts[q]) last.rowCount += lengths[q];
      else segs.push({ tenantId: r.tenantId, rowStart: starts[q], rowCount: lengths[q] });
    });
    return segs;
  }

  private async logitsBuffer(bytes: number): Promise<GPUBuffer> {
    if (!this.logits || this.logits.size < bytes) {
      this.logits?.destroy();
      this.logits = await allocBuffer(this.ctx, Math.max(bytes, 4096), 'head-logits');
    }
    return this.logits;
  }

  dispose(): void {
    this.logits?.destroy();
    this.logits = null;
  }
}
