import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Pulumi's mock runtime keeps global state per process; one file per worker keeps it isolated.
    pool: "forks",
    // Builds dist/ first when a source is newer than the last build (test/support/built-dist.ts).
    globalSetup: ["test/support/built-dist.ts"],
  },
});
