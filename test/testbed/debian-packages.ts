// Installs the Debian packages a testbed component needs (redis-server, lua5.1, iptables, ...), the
// one way every component does it: as root, non-interactive, waiting for another installer's dpkg
// lock, with the downloaded .deb files kept in the testbed cache so a re-provisioned machine installs
// them without downloading again. A tool that is one file of a larger package (promtool of
// `prometheus`) is taken out of the downloaded .deb instead, without installing the package.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
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

let updated: Promise<void> | undefined;

/** Makes the next install refresh the package lists again (each provisioning run starts with this). */
export function forgetAptUpdate(): void {
  updated = undefined;
}

/**
 * `apt-get update`, once per provisioning run: the components' package installs used to refresh the
 * package lists each (up to six times in a cold run). A failed update is retried by the next caller.
 */
function aptUpdate(options: string[], logFile: string, env: NodeJS.ProcessEnv): Promise<void> {
  updated ??= runStep("apt-get update", "apt-get", [...options, "update", "-qq"], { logFile, env }).catch(
    (error: unknown) => {
      updated = undefined;
      throw error;
    },
  );
  return updated;
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
  await aptUpdate(options, logFile, env);
  await runStep(
    `install ${install.step}`,
    "apt-get",
    [...options, "install", "-y", "-qq", "--no-install-recommends", ...install.packages],
    { logFile, env },
  );
}

/** One file taken out of a Debian package without installing it (no maintainer script runs). */
export interface DebianFile {
  /** Step name in errors and the build log's name, e.g. "promtool". */
  step: string;
  package: string;
  /** The upstream version the package must carry: "2.42.0" for Debian's 2.42.0+ds-5+deb12u1. */
  version: string;
  /** The file's path inside the package, e.g. "usr/bin/promtool". */
  file: string;
  /** Where to put it. */
  dest: string;
  /** What a user can do instead (an override variable), appended to the error. */
  alternative: string;
}

/** The upstream part of a Debian version: without epoch, Debian revision and repack suffix (+ds, ~rc). */
export function upstreamVersion(debianVersion: string): string {
  return debianVersion
    .replace(/^\d+:/, "")
    .replace(/-[^-]*$/, "")
    .replace(/[+~].*$/, "");
}

const debianArchitecture: Record<string, string> = { x64: "amd64", arm64: "arm64" };

/** The package's .deb of the wanted upstream version in `archives`, if one was downloaded before. */
function downloadedDeb(archives: string, spec: DebianFile): string | undefined {
  const arch = debianArchitecture[process.arch] ?? process.arch;
  const matching = readdirSync(archives)
    .filter((name) => name.startsWith(`${spec.package}_`) && name.endsWith(`_${arch}.deb`))
    .filter((name) => upstreamVersion(decodeURIComponent(name.split("_")[1] ?? "")) === spec.version)
    .sort();
  const newest = matching.at(-1);
  return newest === undefined ? undefined : join(archives, newest);
}

/** Versions of the package's .debs in `archives`. */
function offered(archives: string, pkg: string): string[] {
  return readdirSync(archives)
    .filter((name) => name.startsWith(`${pkg}_`) && name.endsWith(".deb"))
    .map((name) => decodeURIComponent(name.split("_")[1] ?? ""));
}

/**
 * Puts one file of a Debian package at `dest`: the .deb is downloaded (`apt-get download`, kept in the
 * testbed cache beside the installed packages' .debs) unless it is there already, and unpacked into a
 * scratch folder. A package that cannot be downloaded, or whose upstream version is not the pinned
 * one, is a clear error naming the alternative.
 */
export async function extractDebianFile(spec: DebianFile): Promise<void> {
  const logFile = buildLog(`${spec.step}-${spec.version}`);
  const archives = join(cacheDir(), "apt");
  mkdirSync(join(archives, "partial"), { recursive: true });
  let deb = downloadedDeb(archives, spec);
  if (deb === undefined) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    try {
      if (process.getuid?.() === 0) {
        const options = ["-o", "DPkg::Lock::Timeout=600", "-o", `Dir::Cache::archives=${archives}`];
        await aptUpdate(options, logFile, env);
      }
      await runStep(`download ${spec.step}`, "apt-get", ["download", "-qq", spec.package], {
        logFile,
        env,
        cwd: archives,
      });
    } catch (error) {
      throw new TestbedStepError(
        `download ${spec.step}`,
        `\`apt-get download ${spec.package}\` failed (the testbed pins Debian 12's ${spec.package} ${spec.version}); ${spec.alternative}`,
        logFile,
        { cause: error },
      );
    }
    deb = downloadedDeb(archives, spec);
    if (deb === undefined) {
      throw new TestbedStepError(
        `download ${spec.step}`,
        `this machine's Debian package ${spec.package} is ${offered(archives, spec.package).join(", ")}, not the pinned ${spec.version}; ${spec.alternative}`,
        logFile,
      );
    }
  }
  mkdirSync(dirname(spec.dest), { recursive: true });
  const work = mkdtempSync(`${spec.dest}.work.`);
  try {
    await runStep(`unpack ${spec.step}`, "dpkg-deb", ["--extract", deb, work], { logFile });
    renameSync(join(work, spec.file), spec.dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
