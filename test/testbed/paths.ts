import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** Pinned versions of every testbed component; a cache entry is keyed by its version. */
export const versions = {
  kubernetes: "1.34.4",
  etcd: "3.6.16",
  kwok: "0.7.0",
  helm: "3.22.0",
  kafka: "4.1.1",
  /** promtool: the upstream version of Debian 12's `prometheus` package it is taken from. */
  prometheus: "2.42.0",
} as const;

/** Repository root (this file lives in test/testbed/). */
export const repoRoot = resolve(import.meta.dirname, "../..");

/**
 * User-level cache for built binaries, jars, the Python toolchain and the model. It lives outside the
 * checkout so that a fresh clone (CI) reuses it; `JUDE_CACHE_DIR` moves it.
 */
export function cacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  return process.env.JUDE_CACHE_DIR ?? join(xdg, "jude-testbed");
}

/**
 * Runtime state of the running testbed (ports, pids, data dirs, logs), one per checkout, so two
 * clones never fight over one set of processes. `JUDE_TESTBED_STATE_DIR` moves it.
 */
export function stateDir(): string {
  return process.env.JUDE_TESTBED_STATE_DIR ?? join(repoRoot, ".testbed");
}

export const buildScripts = join(repoRoot, "test/testbed/build");
