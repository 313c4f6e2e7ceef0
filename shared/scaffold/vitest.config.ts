import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // template/ holds a driver's tests, which run in generated packages only.
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
