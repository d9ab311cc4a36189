import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.spec.ts"],
    // ORT sessions use both cores; parallel test files would only fight over them.
    fileParallelism: false,
    // Timeouts only catch hangs: a loaded machine (CI beside other work) runs the slowest test several times
    // slower, so no test states its own, shorter limit (test/suite-policy.test.ts checks it).
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
