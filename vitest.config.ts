import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.spec.ts"],
    // ORT sessions use both cores; parallel test files would only fight over them.
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
