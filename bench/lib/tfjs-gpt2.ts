/**
 * hGPT's greedy decoding with tfjs ops: the alternative a tfjs user would write for the vsTfjs
 * scenario. HF GPT2LMHeadModel in eval mode (pre-LN blocks, causal attention, gelu_new MLP,
 * Conv1D weights [in, out], final ln_f, LM head tied to wte), one tenant at a time: its LoRA
 * is two extra matmuls per adapted projection (x @ A^T @ (scale * B^T) added after the bias).
 * A tenant's prompts decode as one batch, left-padded to the longest so that every row's next
 * token sits in the same column; padded keys are masked out of attention and positions count
 * from each row's first real token, so a row decodes as it would alone. The KV cache grows by
 * concatenation each step and the next tokens are read back every step, as a streaming
 * server must. Weights are uploaded (and wte pre-transposed for the head) once, which
 * favours tfjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, TensorMap } from '../../src/formats/types.js';
import { disposeLora, hostTensor, layerNorm, MASKED, project, uploadLora, type Dense, type Lora } from './tfjs-common.js';
import type { Gpt2Config } from '../../src/formats/model-config.js';

const MODEL = 'tfjs hGPT';

/** sqrt(2 / pi), gelu_new's constant. */
const GELU_C = Math.sqrt(2 / Math.PI);

const PROJECTIONS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

/** Keys and values of every layer, [B, heads, tokens, headDim] each. */
// A type, not an interface: tf.tidy keeps the tensors of a returned object with an index signature.
type KvCache = {
  readonly k: tf.Tensor4D[];
  readonly v: tf.Tensor4D[];
};

/** A tenant's LoRA, resident as tf tensors. */
export class TfjsGpt2Tenant {
  constructor(readonly lora: ReadonlyMap<string, Lora>) {}

  dispose(): void {
    disposeLora(this.lora);
  }
}

export class TfjsGpt2 {
  private readonly wpe: tf.Tensor2D;
  private readonly wte: tf.Tensor2D;
  /** wte^T [H, V], the tied LM head. */
  private readonly head: tf.Tensor2D;
  private readonly ln = new Map<string, { g: tf.Tensor1D; b: tf.Tensor1D }>();
  private readonly proj = new Map<string, Dense>();

  private constructor(
    readonly config: Gpt2Config,
    weights: TensorMap,
  ) {
    const { hiddenSize: H, intermediateSize: I, vocabSize: V, maxPositions: P } = config;
    this.wte = tf.tensor2d(hostTensor(MODEL, weights, 'wte.weight', V * H), [V, H]);
    this.wpe = tf.tensor2d(hostTensor(MODEL, weights, 'wpe.weight', P * H), [P, H]);
    this.head = tf.transpose(this.wte);
    const addLn = (name: string): void => {
      this.ln.set(name, { g: tf.tensor1d(hostTensor(MODEL, weights, `${name}.weight`, H)), b: tf.tensor1d(hostTensor(MODEL, weights, `${name}.bias`, H)) });
    };
    for (let l = 0; l < config.numLayers; l++) {
      const p = `h.${l}`;
      const dims: Record<(typeof PROJECTIONS)[number], [number, number]> = { 'attn.c_attn': [H, 3 * H], 'attn.c_proj': [H, H], 'mlp.c_fc': [H, I], 'mlp.c_proj': [I, H] };
      for (const name of PROJECTIONS) {
        const [inDim, outDim] = dims[name];
        const m = `${p}.${name}`;
        this.proj.set(m, { w: tf.tensor2d(hostTensor(MODEL, weights, `${m}.weight`, inDim * outDim), [inDim, outDim]), b: tf.tensor1d(hostTensor(MODEL, weights, `${m}.bias`, outDim)) });
      }
      addLn(`${p}.ln_1`);
      addLn(`${p}.ln_2`);
    }
    addLn('ln_f');
  }

  /** Uploads the base weights (HF names without the "transformer." prefix). */
  static create(config: Gpt2Config, weights: TensorMap): TfjsGpt2 {
    return new TfjsGpt2(config, weights);
  }

  /** Uploads a tenant's LoRA with its scale folded into B^T. */
  tenant(adapter: LoraAdapter): TfjsGpt2Tenant {
    const lora = uploadLora(MODEL, adapter, this.proj);
    return new TfjsGpt2Tenant(lora);
  }

  private layerNorm(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const p = this.ln.get(name)!;
    return layerNorm(x, p.g, p.b, this.config.layerNormEps);
  }

  private project(x: tf.Tensor2D, module: string, t: TfjsGpt2Tenant): tf.Tensor2D {
    return project(x, this.proj.get(module)!, t.lora.get(module));
  }

  /** gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  private static gelu(x: tf.Tensor2D): tf.Tensor2D {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), GELU_C);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }

  /** Block `l` on x [B*T, H]; appends the block's keys/values to `past` (if any) into `next`. */
  private block(x: tf.Tensor2D, l: number, t: TfjsGpt2Tenant, maskBias: tf.Tensor4D, B: number, T: number, past: KvCache | null, next: KvCache): tf.Tensor2D {
    const { hiddenSize: H, numHeads: nh } = this.config;
    const dh = H / nh;
    const p = `h.${l}`;
    const heads = (y: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(y, [B, T, nh, dh]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(this.project(this.layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`, t), 3, 1);
    const keys = past ? tf.concat([past.k[l], heads(k)], 2) : heads(k);
    const values = past ? tf.concat([past.v[l], heads(v)], 2) : heads(v);
    next.k.push(keys);
    next.v.push(values);
    const scores = tf.add(tf.mul(tf.matMul(heads(q), keys, false, true), 1 / Math.sqrt(dh)), maskBias);
    const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), values), [0, 2, 1, 3]), [B * T, H]) as tf.Tensor2D;
    const a = tf.add<tf.Tensor2D>(x, this.project(ctx, `${p}.attn.c_proj`, t));
    const f = TfjsGpt2.gelu(this.project(this.layerNorm(a, `${p}.ln_2`), `${p}.mlp.c_fc`, t));
    return tf.add(a, this.project(f, `${p}.mlp.c_proj`, t));
  }

  /**
   * One pass over T new tokens per row: logits [B, V] of each row's last column, and the
   * cache extended by them. `pos` and `mask` ([B, T, Tpast + T] additive) are the caller's.
   */
  private forward(t: TfjsGpt2Tenant, ids: Int32Array, pos: Int32Array, mask: Float32Array, B: number, T: number, past: KvCache | null): { logits: tf.Tensor2D; cache: KvCache } {
    const H = this.config.hiddenSize;
    const Tk = mask.length / (B * T);
    return tf.tidy(() => {
      const maskBias = tf.tensor4d(mask, [B, 1, T, Tk]);
      let x = tf.add(tf.gather(this.wte, tf.tensor1d(ids, 'int32')), tf.gather(this.wpe, tf.tensor1d(pos, 'int32'))) as tf.Tensor2D;
      const cache: KvCache = { k: [], v: [] };
      for (let l = 0; l < this.config.numLayers; l++) x = this.block(x, l, t, maskBias, B, T, past, cache);
      const last = tf.reshape(tf.slice(tf.reshape(x, [B, T, H]), [0, T - 1, 0], [B, 1, H]), [B, H]) as tf.Tensor2D;
      return { logits: tf.matMul(this.layerNorm(last, 'ln_f'), this.head) as tf.Tensor2D, cache };
    });
  }

  /**
   * Greedy continuation of each prompt by exactly `maxTokens` tokens (no stop token), the
   * prompts of one tenant decoded as one batch. Returns the generated tokens per prompt.
   */
  async generate(t: TfjsGpt2Tenant, prompts: readonly (readonly number[])[], maxTokens: number): Promise<number[][]> {
    const B = prompts.length;
    if (B === 0 || prompts.some((p) => p.length === 0)) throw new Error('tfjs hGPT: an empty batch or prompt');
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Error(`tfjs hGPT: maxTokens must be an integer >= 0, got ${maxTokens}`);
    const T0 = Math.max(...prompts.map((p) => p.length));
    // The last generated token is never fed back, so it needs no position.
    if (T0 + maxTokens - 1 > this.config.maxPositions) throw new Error(`tfjs hGPT: ${T0} + ${maxTokens} tokens exceed ${this.config.maxPositions} positions`);
    const out: number[][] = prompts.map(() => []);
    if (maxTokens === 0) return out;
    const pad = prompts.map((p) => T0 - p.length);
    // Prefill: row b's real tokens sit at columns pad[b].., causal over them only.
    const ids = new Int32Array(B * T0);
    const pos = new Int32Array(B * T0);
    const mask = new Float32Array(B * T0 * T0).fill(MASKED);
    prompts.forEach((p, b) => {
      ids.set(p, b * T0 + pad[b]);
      for (let q = pad[b]; q < T0; q++) {
        pos[b * T0 + q] = q - pad[b];
        mask.fill(0, (b * T0 + q) * T0 + pad[b], (b * T0 + q) * T0 + q + 1);
      }
    });
    let step = this.forward(t, ids, pos, mask, B, T0, null);
    try {
      for (let s = 0; ; s++) {
        const next = tf.tidy(() => tf.argMax(step.logits, 1));
        step.logits.dispose();
        const tokens = (await next.data()) as Int32Array;
        next.dispose();
        tokens.forEach((id, b) => out[b].push(id));
        if (s + 1 === maxTokens) break;
        // Decode: one new column; every key but the padding is visible.
        const Tk = T0 + s + 1;
        const dmask = new Float32Array(B * Tk);
        const dpos = new Int32Array(B);
        prompts.forEach((p, b) => {
          dmask.fill(MASKED, b * Tk, b * Tk + pad[b]);
          dpos[b] = p.length + s;
        });
        const past = step.cache;
        step = this.forward(t, tokens, dpos, dmask, B, 1, past);
        tf.dispose([...past.k, ...past.v]);
      }
    } finally {
      tf.dispose([...step.cache.k, ...step.cache.v]);
    }
    return out;
  }

  /** Logits [V] after the whole sequence `ids`, no cache: to tell a near-tie from a real disagreement. */
  async nextLogits(t: TfjsGpt2Tenant, ids: readonly number[]): Promise<Float32Array> {
    const T = ids.length;
    if (T === 0) throw new Error('tfjs hGPT: nextLogits of an empty sequence');
    const mask = new Float32Array(T * T).fill(MASKED);
    for (let q = 0; q < T; q++) mask.fill(0, q * T, q * T + q + 1);
    const { logits, cache } = this.forward(t, Int32Array.from(ids), Int32Array.from({ length: T }, (_, i) => i), mask, 1, T, null);
    tf.dispose([...cache.k, ...cache.v]);
    try {
      return (await logits.data()) as Float32Array;
    } finally {
      logits.dispose();
    }
  }

  dispose(): void {
    tf.dispose([this.wte, this.wpe, this.head]);
    for (const p of this.ln.values()) tf.dispose([p.g, p.b]);
    for (const d of this.proj.values()) tf.dispose([d.w, d.b]);
  }
}
