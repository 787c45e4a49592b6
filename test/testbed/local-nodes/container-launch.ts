// Starts one container process: into the pod's network namespace, a private mount namespace with the
// pod's root assembled, then chroot and exec — each step an exec, so the pid we get is the container's.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { ProcessSpec } from "./container-process.ts";
import { mountScript, type MountOp } from "./mount-plan.ts";

/** Everything a launch needs besides the process itself. */
export interface LaunchSpec {
  /** Path of the pod's network namespace (/run/netns/<name>). */
  netnsPath: string;
  /** Empty host folder the pod's tmpfs root is mounted on (inside the private mount namespace only). */
  rootDir: string;
  ops: readonly MountOp[];
  /** securityContext.readOnlyRootFilesystem: the root is read-only once assembled (see mountScript). */
  readOnlyRoot?: boolean;
  logFile: string;
  /** Created by the launch script right before it execs the command. */
  startedFile: string;
}

/** Spawns the container in its own process group; stdout and stderr go to `logFile`. */
export function launchContainer(process: ProcessSpec, launch: LaunchSpec): ChildProcess {
  mkdirSync(launch.rootDir, { recursive: true });
  mkdirSync(dirname(launch.logFile), { recursive: true });
  const user = process.user === undefined ? undefined : `${process.user.uid}:${process.user.gid}`;
  const script = mountScript(launch.ops, user, process.workingDir, launch.readOnlyRoot === true);
  const log = openSync(launch.logFile, "a");
  try {
    return spawn(
      "/usr/bin/nsenter",
      [
        `--net=${launch.netnsPath}`,
        "--",
        "/usr/bin/unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "jude-pod",
        launch.rootDir,
        launch.startedFile,
        ...process.argv,
      ],
      { env: process.env, detached: true, stdio: ["ignore", log, log] },
    );
  } finally {
    closeSync(log);
  }
}

/** Sends `signal` to a container's process group; false when it is gone already. */
export function signalContainer(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
