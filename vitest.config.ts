import { defineConfig } from "vitest/config";

// Three projects: fast unit tests beside the code, integration tests against the testbed's real
// components, and end-to-end tests of whole flows. The global setups start what a project needs
// through the same testbed code that `npm run testbed` uses.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "{operator,crds,controllers,plumbing,serving,pipelines,store,cli,bench,scripts,test/testbed,test/docs}/**/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/integration.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/e2e.ts"],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
