import f32Weights from '../../shaders/weights_f32_prelude.wgsl?raw';
import f16PackedWeights from '../../shaders/weights_f16_packed_prelude.wgsl?raw';
import f16NativeWeights from '../../shaders/weights_f16_native_prelude.wgsl?raw';
import type { GpuContext } from '../gpu/device.js';
import { composeWgsl, type BindingKind, type KernelSpec } from '../gpu/pipelines.js';
import { ShapeError } from '../errors.js';

/** How base weights are held on the GPU. Compute is f32 either way. */
export type WeightDtype = 'f32' | 'f16';

/**
 * How a kernel reads its weights: f32, or f16 halves unpacked from u32 words (any device)
 * or read as WGSL f16 (devices with shader-f16). Both f16 reads take the same buffer.
 */
export type WeightRead = 'f32' | 'f16-packed' | 'f16-native';
export const WEIGHT_READS: readonly WeightRead[] = ['f32', 'f16-packed', 'f16-native'];

const PRELUDES: Record<WeightRead, string> = { f32: f32Weights, 'f16-packed': f16PackedWeights, 'f16-native': f16NativeWeights };
const SUFFIX: Record<WeightRead, string> = { f32: '', 'f16-packed': '_f16p', 'f16-native': '_f16n' };

/** Bytes of one weight element as stored. */
export function weightBytes(dtype: WeightDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/** The read a dtype takes on this device unless a caller forces one (tests compare them). */
export function weightRead(ctx: GpuContext, dtype: WeightDtype, force?: WeightRead): WeightRead {
  if (force !== undefined) {
    const forcedDtype: WeightDtype = force === 'f32' ? 'f32' : 'f16';
    if (forcedDtype !== dtype) throw new ShapeError(`weight read ${force} cannot read ${dtype} weights`);
    if (force === 'f16-native' && !ctx.features.shaderF16) throw new ShapeError('weight read f16-native needs the shader-f16 feature, which this device lacks');
    return force;
  }
  if (dtype === 'f32') return 'f32';
  return ctx.features.shaderF16 ? 'f16-native' : 'f16-packed';
}

/**
 * The kernel's three weight-read variants, composed from one source: the weight prelude goes
 * first because the native one opens with `enable f16`, then the kernel's other preludes.
 */
export function weightKernels(name: string, bindings: readonly BindingKind[], ...parts: readonly string[]): Record<WeightRead, KernelSpec> {
  const spec = (r: WeightRead): KernelSpec => ({ name: `${name}${SUFFIX[r]}`, code: composeWgsl(PRELUDES[r], ...parts), bindings });
  return { f32: spec('f32'), 'f16-packed': spec('f16-packed'), 'f16-native': spec('f16-native') };
}
