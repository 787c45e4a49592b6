/** The server version reported by Info and the HTTP API. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project version from the nearest package.json (sources and builds sit at different depths). */
function findVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const candidate = join(directory, "package.json");
    if (existsSync(candidate)) {
      const version = (JSON.parse(readFileSync(candidate, "utf8")) as { version?: unknown }).version;
      if (typeof version === "string") return version;
    }
    directory = dirname(directory);
  }
  return "0.0.0";
}

/** The server version reported by Info. */
export const SERVER_VERSION = findVersion();
