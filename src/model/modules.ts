import type { ModelConfig } from '../formats/model-config.js';
import { LORA_TARGETS } from './lora-hook.js';

export interface ModuleShape {
  /** Canonical path without prefix, e.g. "encoder.layer.3.attention.self.query". */
  readonly path: string;
  /** PEFT target name, e.g. "query", "intermediate.dense", "c_attn". */
  readonly target: string;
  readonly layer: number;
  readonly inDim: number;
  readonly outDim: number;
}

/** Every projection LoRA may adapt in layers [from, to), with its input/output sizes. */
export function loraModuleShapes(config: ModelConfig, from = 0, to = config.numLayers): ModuleShape[] {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const out: ModuleShape[] = [];
  for (let l = from; l < to; l++) {
    if (config.family === 'bert') {
      const p = `encoder.layer.${l}`;
      const dims: Record<(typeof LORA_TARGETS.bert)[number], [string, number, number]> = {
        query: [`${p}.attention.self.query`, H, H],
        key: [`${p}.attention.self.key`, H, H],
        value: [`${p}.attention.self.value`, H, H],
        'attention.output.dense': [`${p}.attention.output.dense`, H, H],
        'intermediate.dense': [`${p}.intermediate.dense`, H, I],
        'output.dense': [`${p}.output.dense`, I, H],
      };
      for (const t of LORA_TARGETS.bert) out.push({ path: dims[t][0], target: t, layer: l, inDim: dims[t][1], outDim: dims[t][2] });
    } else {
      const p = `h.${l}`;
      const dims: Record<(typeof LORA_TARGETS.gpt2)[number], [string, number, number]> = {
        c_attn: [`${p}.attn.c_attn`, H, 3 * H],
        'attn.c_proj': [`${p}.attn.c_proj`, H, H],
        c_fc: [`${p}.mlp.c_fc`, H, I],
        'mlp.c_proj': [`${p}.mlp.c_proj`, I, H],
      };
      for (const t of LORA_TARGETS.gpt2) out.push({ path: dims[t][0], target: t, layer: l, inDim: dims[t][1], outDim: dims[t][2] });
    }
  }
  return out;
}
