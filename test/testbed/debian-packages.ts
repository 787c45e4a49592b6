// Installs the Debian packages a testbed component needs (redis-server, lua5.1, iptables, ...), the
// one way every component does it: as root, non-interactive, waiting for another installer's dpkg
// lock, with the downloaded .deb files kept in the testbed cache so a re-provisioned machine installs
// them without downloading again.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./paths.ts";
import { buildLog, runStep, TestbedStepError } from "./step.ts";

/** What to install and how to tell a user who is not root to do it instead. */
export interface DebianInstall {
  /** Step name in errors and the build log's name, e.g. "redis". */
  step: string;
  packages: readonly string[];
  /** What a non-root user can do instead (an override variable), appended to the error. */
  alternative: string;
}

/** `apt-get install` the packages (after `apt-get update`); a clear error when not root. */
export async function installDebianPackages(install: DebianInstall): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new TestbedStepError(
      `install ${install.step}`,
      `${install.packages.join(", ")} not installed; run \`sudo apt-get install ${install.packages.join(" ")}\` or ${install.alternative}`,
    );
  }
  const logFile = buildLog(`${install.step}-apt`);
  const archives = join(cacheDir(), "apt");
  mkdirSync(join(archives, "partial"), { recursive: true });
  const options = ["-o", "DPkg::Lock::Timeout=600", "-o", `Dir::Cache::archives=${archives}`];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await runStep("apt-get update", "apt-get", [...options, "update", "-qq"], { logFile, env });
  await runStep(
    `install ${install.step}`,
    "apt-get",
    [...options, "install", "-y", "-qq", "--no-install-recommends", ...install.packages],
    { logFile, env },
  );
}
