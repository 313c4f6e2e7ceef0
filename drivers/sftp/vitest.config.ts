import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One sshd serves every file; files run one after another to keep CPU time measurements honest on 2 cores.
    fileParallelism: false,
  },
});
