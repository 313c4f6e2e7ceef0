import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Nothing may probe a metadata server for Application Default Credentials.
    env: { METADATA_SERVER_DETECTION: "none" },
    // One fake-gcs-server serves every file; on 2 cores, files in parallel only add noise.
    fileParallelism: false,
  },
});
