/**
 * f64 reference of LoRA'd projections. PEFT's layout for both families: A is [r, in] and
 * B is [out, r], whatever the base weight's layout (GPT-2's Conv1D stores W as [in, out]),
 * and delta(x) = scale * (x @ A^T) @ B^T is added after the bias, before any activation.
 */
import { HmiError, ShapeError } from '../../errors.js';
import type { HostTensor, LoraAdapter, LoraModule, TensorMap } from '../../formats/types.js';
import type { ModelConfig } from '../../formats/model-config.js';
import { addInPlace, matmul, tensor, type Layout, type Vec } from './ops.js';

/** An adapter module names no projection LoRA may target in this model. */
export class LoraTargetError extends HmiError {
  constructor(readonly module: string, reason: string) {
    super('LORA_TARGET', `LoRA module "${module}" ${reason}`);
  }
}

export function layoutOf(config: ModelConfig): Layout {
  return config.family === 'bert' ? 'nk' : 'kn';
}

const TARGET_PATTERNS = {
  bert: /^encoder\.layer\.(\d+)\.(?:attention\.self\.(?:query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)$/,
  gpt2: /^h\.(\d+)\.(?:attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)$/,
} as const;

/** Rejects module keys that would otherwise be silently ignored (a misspelt or foreign target). */
export function checkAdapterTargets(config: ModelConfig, adapter: LoraAdapter | undefined): void {
  if (adapter === undefined) return;
  for (const key of adapter.modules.keys()) {
    const m = TARGET_PATTERNS[config.family].exec(key);
    if (m === null) throw new LoraTargetError(key, `is not a ${config.family} projection LoRA can target`);
    if (Number(m[1]) >= config.numLayers) throw new LoraTargetError(key, `is beyond the model's ${config.numLayers} layers`);
  }
}

function checkModule(mod: LoraModule, name: string): void {
  if (mod.A.length !== mod.r * mod.inDim || mod.B.length !== mod.outDim * mod.r) {
    throw new ShapeError(`LoRA module "${name}": A has ${mod.A.length} values and B ${mod.B.length}, expected ${mod.r}x${mod.inDim} and ${mod.outDim}x${mod.r}`);
  }
}

/** scale * (x @ A^T) @ B^T for x [rows, inDim] -> [rows, outDim]. */
export function loraDeltaRef(x: Vec, rows: number, mod: LoraModule, name = 'module'): Float64Array {
  checkModule(mod, name);
  const shrunk = matmul(x, rows, mod.inDim, mod.A, mod.r, 'nk');
  const y = matmul(shrunk, rows, mod.r, mod.B, mod.outDim, 'nk');
  for (let i = 0; i < y.length; i++) y[i] *= mod.scale;
  return y;
}

/**
 * The projection `module` (its path without ".weight"): x @ W^T + b in the family's weight
 * layout, plus the adapter's delta when the adapter targets that module.
 */
export function projectRef(
  config: ModelConfig,
  weights: TensorMap,
  module: string,
  x: Vec,
  rows: number,
  inDim: number,
  outDim: number,
  adapter?: LoraAdapter,
): Float64Array {
  const layout = layoutOf(config);
  const w = tensor(weights, `${module}.weight`, layout === 'nk' ? [outDim, inDim] : [inDim, outDim]);
  const b = tensor(weights, `${module}.bias`, [outDim]);
  const y = matmul(x, rows, inDim, w, outDim, layout, b);
  const mod = adapter?.modules.get(module);
  if (mod !== undefined) {
    if (mod.inDim !== inDim || mod.outDim !== outDim) {
      throw new ShapeError(`LoRA module "${module}" is ${mod.inDim}->${mod.outDim}, the projection ${inDim}->${outDim}`);
    }
    addInPlace(y, loraDeltaRef(x, rows, mod, module));
  }
  return y;
}

/**
 * The weights with the adapter folded in: W' = W + scale * B @ A for nn.Linear [out, in],
 * W' = W + scale * (B @ A)^T for Conv1D [in, out]; the adapter's head tensors replace the
 * base's. Rounded to f32 like any stored weight.
 */
export function mergeLoraRef(config: ModelConfig, weights: TensorMap, adapter: LoraAdapter): TensorMap {
  checkAdapterTargets(config, adapter);
  const layout = layoutOf(config);
  const merged: TensorMap = new Map(weights);
  for (const [name, mod] of adapter.modules) {
    checkModule(mod, name);
    const key = `${name}.weight`;
    const shape = layout === 'nk' ? [mod.outDim, mod.inDim] : [mod.inDim, mod.outDim];
    const data = Float32Array.from(tensor(weights, key, shape));
    for (let o = 0; o < mod.outDim; o++) {
      for (let i = 0; i < mod.inDim; i++) {
        let ba = 0;
        for (let r = 0; r < mod.r; r++) ba += mod.B[o * mod.r + r] * mod.A[r * mod.inDim + i];
        data[layout === 'nk' ? o * mod.inDim + i : i * mod.outDim + o] += mod.scale * ba;
      }
    }
    const t: HostTensor = { shape, data };
    merged.set(key, t);
  }
  for (const [name, t] of adapter.head) merged.set(name, t);
  return merged;
}
