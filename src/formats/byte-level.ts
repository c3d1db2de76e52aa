/**
 * GPT-2's byte <-> unicode symbol map: byte-level BPE vocabularies spell every byte as one
 * printable character, so that tokens are ordinary strings.
 */

let cached: string[] | null = null;

/** Symbol of each byte 0..255 (GPT-2's bytes_to_unicode). */
export function byteSymbols(): readonly string[] {
  if (cached === null) {
    const symbols = new Array<string>(256);
    let extra = 0;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      symbols[b] = String.fromCharCode(printable ? b : 256 + extra++);
    }
    cached = symbols;
  }
  return cached;
}

/** The bytes in GPT-2's vocabulary order: printable ones first, then the remapped ones. */
export function byteVocabOrder(): number[] {
  const printable: number[] = [];
  const rest: number[] = [];
  for (let b = 0; b < 256; b++) {
    const sym = byteSymbols()[b].charCodeAt(0);
    (sym < 256 ? printable : rest).push(b);
  }
  return [...printable, ...rest];
}

let decoderTable: Map<string, number> | null = null;

/** Symbol -> byte. */
export function byteLevelDecoderTable(): ReadonlyMap<string, number> {
  if (decoderTable === null) decoderTable = new Map(byteSymbols().map((s, b) => [s, b]));
  return decoderTable;
}
