import { createGpuContext } from '../gpu/device.js';
import { HmiError } from '../errors.js';

// Temporary demo: proves WebGPU is reachable and reports the adapter.
const status = document.getElementById('status')!;
try {
  const ctx = await createGpuContext(navigator.gpu);
  status.textContent = `WebGPU ready on ${ctx.deviceKey}.`;
} catch (e) {
  status.textContent = e instanceof HmiError ? e.message : `Failed to start: ${String(e)}`;
}
