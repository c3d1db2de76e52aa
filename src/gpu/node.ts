/**
 * Node entry to WebGPU: Dawn from the `webgpu` package. Kept out of the browser bundle;
 * only the CLI, the Node tests and the Node benchmark import it.
 */
import { existsSync } from 'node:fs';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function nodeGpu(): Promise<GPU> {
  // Debian's lavapipe is too old for Dawn; Chromium's SwiftShader ICD works. A machine with
  // a real GPU keeps its own ICDs unless HMI_SWIFTSHADER=1 asks for the software path.
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && process.env.HMI_HARDWARE !== '1') {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  return create([]);
}
