import { defineConfig } from '@playwright/test';

// Headless Debian Chromium on SwiftShader by default; HMI_HARDWARE=1 runs the same tests on a real GPU.
const hardware = process.env.HMI_HARDWARE === '1';
const port = Number(process.env.HMI_E2E_PORT ?? 5199);

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://localhost:${port}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--enable-unsafe-webgpu',
        ...(hardware ? ['--enable-features=Vulkan'] : ['--enable-unsafe-swiftshader']),
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `npx vite --port ${port} --strictPort`,
    url: `http://localhost:${port}/`,
    reuseExistingServer: false,
    env: { HMI_E2E: '1' },
    timeout: 120_000,
  },
});
