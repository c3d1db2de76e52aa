import type { LoraExpandParams } from '../lora-expand.js';

export interface LoraExpandRefInputs {
  readonly tmp: ArrayLike<number>;
  /** The bound pool buffer's floats (page clamping uses its length). */
  readonly pool: ArrayLike<number>;
  readonly tiles: Uint32Array;
  readonly table: Uint32Array;
  /** y before the kernel. */
  readonly y: ArrayLike<number>;
}

const at = (a: Uint32Array, i: number): number => (i < a.length ? a[i] : 0);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f64 reference of shaders/lora_expand.wgsl, including its clamping of page indices and ranks. */
export function loraExpandRef(inp: LoraExpandRefInputs, p: LoraExpandParams): Float64Array {
  const out = Float64Array.from(inp.y);
  const H = p.pageFloats;
  const lastPage = Math.floor(inp.pool.length / H) - 1;
  const pagesPerRow = Math.ceil(p.outDim / H);
  for (let t = 0; t < p.numTiles; t++) {
    const o = (p.tileOffset + t) * 4;
    const [rowStart, rowCount, slot] = [inp.tiles[o], inp.tiles[o + 1], inp.tiles[o + 2]];
    const m = p.metaOffset + slot * 4;
    const rank = Math.min(at(inp.table, m), p.tmpStride);
    if (rank === 0 || rowCount === 0 || rowStart + rowCount > p.rows) continue;
    u32[0] = at(inp.table, m + 1);
    const scale = f32[0];
    const bOff = at(inp.table, m + 3);
    for (let r = 0; r < rowCount; r++) {
      const row = rowStart + r;
      for (let c = 0; c < p.outDim; c++) {
        const pg = Math.floor(c / H);
        let acc = 0;
        for (let k = 0; k < rank; k++) {
          const page = Math.min(at(inp.table, bOff + k * pagesPerRow + pg), lastPage);
          acc += inp.tmp[row * p.tmpStride + k] * inp.pool[page * H + (c - pg * H)];
        }
        out[row * p.outDim + c] += scale * acc;
      }
    }
  }
  return out;
}
