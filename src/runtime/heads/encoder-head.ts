import type { BertConfig } from '../../formats/model-config.js';
import { BertModel } from '../../model/bert.js';
import type { ClassifyOptions, ClassifyResult, EmbedResult, ModelInput, RuntimeOptions } from '../api.js';
import type { EngineSpec, HeadBuilder, HeadParts } from '../engine.js';
import { InvalidInputError } from '../errors.js';
import { toTokenIds, truncatedIds } from '../input.js';
import { WINDOW_CHUNK, type LowerModel } from '../lower-windows.js';
import type { AdmittedRequest, HeadHost, TaskHead } from '../task-head.js';
import { EncoderExecutor, type EncoderRequest, type EncoderResult, type StagedPlot } from './encoder-executor.js';

/** The encoder's device-bound part: the serving BERT and its batch executor. */
export interface EncoderParts extends HeadParts {
  readonly model: BertModel;
  readonly executor: EncoderExecutor;
}

function builder(host: HeadHost<BertConfig>): HeadBuilder<BertConfig, EncoderParts> {
  return {
    plotModel(spec: EngineSpec<BertConfig>, base) {
      const c = spec.config;
      const ln = spec.split > 0 ? `encoder.layer.${spec.split - 1}.output.LayerNorm` : 'embeddings.LayerNorm';
      return {
        width: 3 * c.hiddenSize,
        model: {
          family: 'bert',
          padTokenId: c.padTokenId,
          eps: c.layerNormEps,
          positions: base.get('embeddings.position_embeddings.weight'),
          posRows: c.maxPositions,
          typeRow: base.get('embeddings.token_type_embeddings.weight'),
          defaultLn: { gamma: spec.weights.get(`${ln}.weight`)!.data, beta: spec.weights.get(`${ln}.bias`)!.data },
        },
      };
    },
    async build(core, spec) {
      const model = await BertModel.create(core.ctx, spec.config, core.base, { maxTokens: spec.tokenBudget, maxSeqs: 64, autotune: spec.autotune ?? true, ...(spec.onProgress ? { onProgress: spec.onProgress } : {}) });
      const windowModel = await BertModel.create(core.ctx, spec.config, core.base, { maxTokens: 3 * WINDOW_CHUNK, maxSeqs: WINDOW_CHUNK, autotune: false });
      const lower: LowerModel = {
        pack: (seqs) => windowModel.pack(seqs),
        runLower: (batch, l) => windowModel.runLower(batch, spec.split, l),
        dispose: () => windowModel.dispose(),
      };
      const executor = new EncoderExecutor(core.ctx, model, core.lora, spec.registrations, host.now, core.assembler, spec.split, core.pool, (served) =>
        host.metrics.recordBatch(served),
      );
      return {
        model,
        executor,
        lower,
        dispose: () => {
          executor.dispose();
          model.dispose();
        },
      };
    },
  };
}

/**
 * hBERT's task head: classify and embed requests of many tenants, batched under a token
 * budget by the admission path and run in one forward per batch (EncoderExecutor).
 */
export function encoderHead(host: HeadHost<BertConfig>, _options: RuntimeOptions): TaskHead<EncoderParts> {
  const config = host.config;

  const tokenize = (input: ModelInput, truncate: boolean): number[] =>
    truncate ? truncatedIds(input, host.tokenizer, config, 'input') : toTokenIds(input, host.tokenizer, config, 'input');

  const submit = (tenantId: string, input: ModelInput, kind: EncoderRequest['kind'], truncate?: unknown): Promise<EncoderResult> => {
    const meta = host.tenant(tenantId);
    if (kind === 'classify' && meta.numLabels === 0) throw new InvalidInputError(`tenant ${tenantId} has no classifier head`);
    if (truncate !== undefined && typeof truncate !== 'boolean') throw new InvalidInputError(`truncate must be a boolean, got ${JSON.stringify(truncate)}`);
    const ids = tokenize(input, truncate === true);
    return new Promise<EncoderResult>((resolve, reject) => {
      const request: EncoderRequest = { tenantId, tokens: ids.length, enqueuedAt: host.now(), ids, kind, domain: meta.domain, retried: false, resolve, reject };
      host.submit(request);
    });
  };

  const asEncoder = (batch: readonly AdmittedRequest[]): readonly EncoderRequest[] => batch as readonly EncoderRequest[];

  return {
    builder: builder(host),
    attach: () => undefined,
    stage: (engine, batch) => engine.head.executor.stage(asEncoder(batch)),
    async execute(engine, batch, staged, launched) {
      await engine.head.executor.run(asEncoder(batch), staged as StagedPlot | undefined, launched);
    },
    discard: (engine, staged) => engine.head.executor.discard(staged as StagedPlot | undefined),
    waiting: () => 0,
    // Batches run on the admission path: nothing runs in the head between them.
    busy: () => false,
    // A removed tenant's running batch finishes; its queued requests are rejected by the core.
    removed: () => undefined,
    stop: () => undefined,
    // The admission path runs the batches: when it is idle, nothing runs here.
    idle: () => Promise.resolve(),
    metrics: () => ({ kvBytesUsed: 0, kvBytesTotal: 0 }),
    classify: (tenantId, input, options?: ClassifyOptions) => submit(tenantId, input, 'classify', options?.truncate) as Promise<ClassifyResult>,
    embed: (tenantId, input) => submit(tenantId, input, 'embed') as Promise<EmbedResult>,
  };
}
