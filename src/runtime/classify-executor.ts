import { allocBuffer, readF32 } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import type { TenantMeta } from '../knowledge/task/pack.js';
import type { MultiTenantLora } from '../knowledge/task/multi-lora.js';
import type { BertModel } from '../model/bert.js';
import { submitPass } from '../model/pass.js';
import type { ClassifyResult, EmbedResult } from './api.js';
import { RequestFailedError } from './errors.js';
import type { PendingRequest } from './pipeline.js';

export type EncoderResult = ClassifyResult | EmbedResult;

export interface EncoderRequest extends PendingRequest<EncoderResult> {
  readonly kind: 'classify' | 'embed';
  /** Set once the request was re-run after a device loss; a second loss rejects it. */
  retried: boolean;
}

function softmax(logits: Float32Array, offset: number, n: number): number[] {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[offset + i]);
  const e = Array.from({ length: n }, (_, i) => Math.exp(logits[offset + i] - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * Runs a batch of hBERT requests of many tenants in one forward: the base model's matmuls
 * once over all rows, each tenant's LoRA as segmented shrink/expand, then every request's
 * own classifier head in one batched dispatch.
 */
export class EncoderExecutor {
  private logits: GPUBuffer | null = null;

  constructor(
    private readonly ctx: GpuContext,
    private readonly model: BertModel,
    private readonly lora: MultiTenantLora,
    private readonly meta: (tenantId: string) => TenantMeta | undefined,
    private readonly now: () => number,
  ) {}

  async run(batch: readonly EncoderRequest[]): Promise<{ tenantId: string; tokens: number; latencyMs: number }[]> {
    const packed = this.model.pack(batch.map((r) => ({ ids: r.ids })));
    this.lora.setBatch(this.segments(batch, packed.starts, packed.lengths));
    const out = await this.model.forward(packed, { lora: this.lora });
    const H = this.model.config.hiddenSize;
    const wantsHead = batch.some((r) => r.kind === 'classify');
    let logits: Float32Array | null = null;
    let stride = 0;
    if (wantsHead) {
      if (!out.pooled) throw new RequestFailedError('the base model has no pooler, so no classifier head can run');
      const maxLabels = Math.max(1, ...batch.map((r) => this.meta(r.tenantId)?.numLabels ?? 0));
      const buf = await this.logitsBuffer(batch.length * maxLabels * 4);
      let layout = { maxLabels: 0, numLabels: [] as readonly number[] };
      submitPass(this.ctx, (pass) => {
        layout = this.lora.encodeHeads(pass, out.pooled!, batch, buf);
      });
      stride = layout.maxLabels;
      if (stride > 0) logits = await readF32(this.ctx, buf, batch.length * stride);
    }
    const hidden = batch.some((r) => r.kind === 'embed') ? await readF32(this.ctx, out.hidden, packed.rows * H) : null;
    const t = this.now();
    const done: { tenantId: string; tokens: number; latencyMs: number }[] = [];
    batch.forEach((r, q) => {
      const latencyMs = t - r.enqueuedAt;
      if (r.kind === 'embed') {
        const rows = packed.lengths[q];
        const slice = hidden!.slice(packed.starts[q] * H, (packed.starts[q] + rows) * H);
        r.resolve({ tenantId: r.tenantId, hidden: slice, shape: [rows, H] });
      } else {
        const m = this.meta(r.tenantId);
        const n = m?.numLabels ?? 0;
        if (!logits || n === 0) {
          r.reject(new RequestFailedError(`tenant ${r.tenantId} has no classifier head`));
          return;
        }
        const scores = softmax(logits, q * stride, n);
        let best = 0;
        for (let i = 1; i < n; i++) if (scores[i] > scores[best]) best = i;
        r.resolve({ tenantId: r.tenantId, label: m!.labels[best] ?? `LABEL_${best}`, labelIndex: best, scores, tokens: r.tokens, latencyMs });
      }
      done.push({ tenantId: r.tenantId, tokens: r.tokens, latencyMs });
    });
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
