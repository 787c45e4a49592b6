/**
 * Reads an environment variable the testbed's global setup exports; a missing one is a clear error
 * naming the component, never a silently skipped test.
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set: run the test through vitest's integration/e2e project (it starts the testbed) or export it from \`npm run testbed -- env\``,
    );
  }
  return value;
}
