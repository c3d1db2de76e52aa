/**
 * WebGPU's flag values, fixed by the spec. Used instead of the GPUBufferUsage/GPUMapMode
 * globals so modules can be evaluated before Dawn installs those globals in Node.
 */
export const Usage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;

export const MAP_READ = 0x1;
export const SHADER_STAGE_COMPUTE = 0x4;
