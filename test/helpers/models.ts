import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBertFiles, type BertFilesOptions } from '../../src/model/synthetic.js';

/** Writes a synthetic HF BERT directory (default: hbert-mini shape) into a fresh temp dir. */
export async function writeBertDir(opts: BertFilesOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hmi-bert-'));
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(makeBertFiles(opts))) await writeFile(join(dir, name), content);
  return dir;
}
