/** Hand-built safetensors files for the format tests. */

/** A file with `header` (object -> JSON, or raw text) and `dataLen` data bytes (or the given bytes). */
export function rawSafetensors(header: unknown, data: Uint8Array | number = 0, headerLenOverride?: number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  const view = new DataView(out.buffer);
  const len = headerLenOverride ?? json.length;
  view.setUint32(0, len % 2 ** 32, true);
  view.setUint32(4, Math.floor(len / 2 ** 32), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

export function f32(...values: number[]): Float32Array {
  return new Float32Array(values);
}
