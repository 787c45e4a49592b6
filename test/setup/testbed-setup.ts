import { down, type ComponentName, up } from "../testbed/index.ts";

/**
 * Builds a vitest global setup that brings up the given testbed components (a no-op for those already
 * running, e.g. after `npm run testbed -- up` or the test script's own `up`), exports their
 * environment to the test workers, and on teardown stops only what it started itself.
 */
export function testbedSetup(components: ComponentName[]): () => Promise<() => Promise<void>> {
  return async () => {
    const { started, env } = await up(components);
    Object.assign(process.env, env);
    return async () => {
      if (started.length > 0 && process.env.JUDE_TESTBED_KEEP !== "1") await down(started);
    };
  };
}
