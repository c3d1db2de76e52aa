/**
 * hBERT's forward with tfjs ops: the alternative a tfjs user would write for the vsTfjs
 * scenario. HF BertForSequenceClassification in eval mode (post-LN layers, erf GELU, pooler
 * tanh, classifier), one tenant at a time: its LoRA is two extra matmuls per adapted
 * projection (x @ A^T @ B^T * scale added after the bias) and its own head. A batch of the
 * tenant's sequences is padded to its longest, with padded keys masked out of attention.
 * Weights are uploaded and pre-transposed once, which favours tfjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { disposeLora, hostTensor, layerNorm, MASKED, project, uploadLora, type Dense, type Lora } from './tfjs-common.js';
import type { BertConfig } from '../../src/formats/model-config.js';

const MODEL = 'tfjs hBERT';

const PROJECTIONS = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'] as const;

/** A tenant's LoRA and head, resident as tf tensors. */
export class TfjsTenant {
  constructor(
    readonly lora: ReadonlyMap<string, Lora>,
    readonly pooler: Dense,
    readonly classifier: Dense,
    readonly numLabels: number,
    /** False when `pooler` is the base model's (shared, not the tenant's to free). */
    private readonly ownsPooler: boolean,
  ) {}

  dispose(): void {
    disposeLora(this.lora);
    tf.dispose([this.classifier.w, this.classifier.b]);
    if (this.ownsPooler) tf.dispose([this.pooler.w, this.pooler.b]);
  }
}

/** A PyTorch Linear ([out, in] weight) as x @ W^T + b with W^T materialized once. */
function dense(weights: TensorMap, name: string, inDim: number, outDim: number): Dense {
  const w = tf.tensor2d(hostTensor(MODEL, weights, `${name}.weight`, outDim * inDim), [outDim, inDim]);
  const wt = tf.transpose(w);
  w.dispose();
  return { w: wt, b: tf.tensor1d(hostTensor(MODEL, weights, `${name}.bias`, outDim)) };
}

export class TfjsBert {
  private readonly word: tf.Tensor2D;
  private readonly pos: tf.Tensor2D;
  private readonly type0: tf.Tensor1D;
  private readonly ln = new Map<string, { g: tf.Tensor1D; b: tf.Tensor1D }>();
  private readonly proj = new Map<string, Dense>();
  private readonly basePooler: Dense;

  private constructor(
    readonly config: BertConfig,
    weights: TensorMap,
  ) {
    const { hiddenSize: H, intermediateSize: I, vocabSize: V, maxPositions: P } = config;
    this.word = tf.tensor2d(hostTensor(MODEL, weights, 'embeddings.word_embeddings.weight', V * H), [V, H]);
    this.pos = tf.tensor2d(hostTensor(MODEL, weights, 'embeddings.position_embeddings.weight', P * H), [P, H]);
    this.type0 = tf.tensor1d(hostTensor(MODEL, weights, 'embeddings.token_type_embeddings.weight', config.typeVocabSize * H).subarray(0, H));
    const addLn = (name: string): void => {
      this.ln.set(name, { g: tf.tensor1d(hostTensor(MODEL, weights, `${name}.weight`, H)), b: tf.tensor1d(hostTensor(MODEL, weights, `${name}.bias`, H)) });
    };
    addLn('embeddings.LayerNorm');
    for (let l = 0; l < config.numLayers; l++) {
      const p = `encoder.layer.${l}`;
      for (const name of PROJECTIONS) {
        const [inDim, outDim] = name === 'intermediate.dense' ? [H, I] : name === 'output.dense' ? [I, H] : [H, H];
        this.proj.set(`${p}.${name}`, dense(weights, `${p}.${name}`, inDim, outDim));
      }
      addLn(`${p}.attention.output.LayerNorm`);
      addLn(`${p}.output.LayerNorm`);
    }
    this.basePooler = dense(weights, 'pooler.dense', H, H);
  }

  /** Uploads the base weights (HF names without the "bert." prefix). */
  static create(config: BertConfig, weights: TensorMap): TfjsBert {
    return new TfjsBert(config, weights);
  }

  /** Uploads a tenant's LoRA (scale folded into B^T) and head; its head's pooler, if any, replaces the base's. */
  tenant(adapter: LoraAdapter): TfjsTenant {
    const H = this.config.hiddenSize;
    const lora = uploadLora(MODEL, adapter, this.proj);
    const cls = adapter.head.get('classifier.weight');
    if (!cls) throw new Error('tfjs hBERT: the tenant has no classifier head');
    const n = cls.shape[0];
    const own = adapter.head.has('pooler.dense.weight');
    const pooler = own ? dense(adapter.head, 'pooler.dense', H, H) : this.basePooler;
    return new TfjsTenant(lora, pooler, dense(adapter.head, 'classifier', H, n), n, own);
  }

  private layerNorm(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const p = this.ln.get(name)!;
    return layerNorm(x, p.g, p.b, this.config.layerNormEps);
  }

  private project(x: tf.Tensor2D, module: string, t: TfjsTenant): tf.Tensor2D {
    return project(x, this.proj.get(module)!, t.lora.get(module));
  }

  private layer(x: tf.Tensor2D, l: number, t: TfjsTenant, maskBias: tf.Tensor4D, B: number, T: number): tf.Tensor2D {
    const { hiddenSize: H, numHeads: nh } = this.config;
    const dh = H / nh;
    const p = `encoder.layer.${l}`;
    const heads = (y: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(y, [B, T, nh, dh]), [0, 2, 1, 3]);
    const q = heads(this.project(x, `${p}.attention.self.query`, t));
    const k = heads(this.project(x, `${p}.attention.self.key`, t));
    const v = heads(this.project(x, `${p}.attention.self.value`, t));
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), maskBias);
    const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [B * T, H]) as tf.Tensor2D;
    const a = this.layerNorm(tf.add(this.project(ctx, `${p}.attention.output.dense`, t), x), `${p}.attention.output.LayerNorm`);
    const pre = this.project(a, `${p}.intermediate.dense`, t);
    const inter = tf.mul(tf.mul(pre, 0.5), tf.add(tf.erf(tf.mul(pre, Math.SQRT1_2)), 1)) as tf.Tensor2D;
    return this.layerNorm(tf.add(this.project(inter, `${p}.output.dense`, t), a), `${p}.output.LayerNorm`);
  }

  /** Softmax class scores [seqs, numLabels] of one tenant's batch; the caller disposes it. */
  scores(t: TfjsTenant, seqs: readonly (readonly number[])[]): tf.Tensor2D {
    const { hiddenSize: H, padTokenId } = this.config;
    const B = seqs.length;
    const T = Math.max(...seqs.map((s) => s.length));
    if (B === 0 || T === 0) throw new Error('tfjs hBERT: empty batch');
    if (T > this.config.maxPositions) throw new Error(`tfjs hBERT: ${T} tokens exceed ${this.config.maxPositions} positions`);
    const ids = new Int32Array(B * T).fill(padTokenId);
    const mask = new Float32Array(B * T).fill(MASKED);
    seqs.forEach((s, b) => {
      ids.set(s, b * T);
      mask.fill(0, b * T, b * T + s.length);
    });
    return tf.tidy(() => {
      const maskBias = tf.tensor4d(mask, [B, 1, 1, T]);
      const emb = tf.add(tf.add(tf.reshape(tf.gather(this.word, tf.tensor1d(ids, 'int32')), [B, T, H]), this.type0), tf.slice(this.pos, [0, 0], [T, H]));
      let x = this.layerNorm(tf.reshape(emb, [B * T, H]), 'embeddings.LayerNorm');
      for (let l = 0; l < this.config.numLayers; l++) x = this.layer(x, l, t, maskBias, B, T);
      const cls = tf.reshape(tf.slice(tf.reshape(x, [B, T, H]), [0, 0, 0], [B, 1, H]), [B, H]) as tf.Tensor2D;
      const pooled = tf.tanh(tf.fused.matMul({ a: cls, b: t.pooler.w, bias: t.pooler.b }) as tf.Tensor2D);
      return tf.softmax(tf.fused.matMul({ a: pooled, b: t.classifier.w, bias: t.classifier.b }) as tf.Tensor2D);
    });
  }

  /** scores() read back: [seqs * numLabels] row-major. */
  async classify(t: TfjsTenant, seqs: readonly (readonly number[])[]): Promise<Float32Array> {
    const s = this.scores(t, seqs);
    try {
      return (await s.data()) as Float32Array;
    } finally {
      s.dispose();
    }
  }

  dispose(): void {
    tf.dispose([this.word, this.pos, this.type0, this.basePooler.w, this.basePooler.b]);
    for (const p of this.ln.values()) tf.dispose([p.g, p.b]);
    for (const d of this.proj.values()) tf.dispose([d.w, d.b]);
  }
}
