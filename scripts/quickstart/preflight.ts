// Checks `up` makes before it touches anything, so that a run that cannot finish says so at once, in
// the quickstart's own terms, instead of after minutes of installing: one quickstart at a time per
// state directory (a second would reset the first's story under it, and `down` would remove it), and a
// free dashboard port.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { quickstartLockFile } from "./files.ts";

/** A run refused before it made anything: the message is all the user needs (nothing to clean up). */
export class QuickstartRefusal extends Error {}

/** True when a process with this id exists (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The id of the quickstart running from this state directory, if one is (a stale lock is ignored). */
export function runningQuickstart(): number | undefined {
  const file = quickstartLockFile();
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : undefined;
}

/**
 * Marks this process as the running quickstart; refuses, naming the other process and what to do,
 * when another one still runs. Returns the release (idempotent; also done when the process exits).
 */
export function claimQuickstart(command: "up" | "down"): () => void {
  const other = runningQuickstart();
  if (other !== undefined)
    throw new QuickstartRefusal(
      command === "up"
        ? `another quickstart is still running (pid ${other}): it and this one would reset each other's story; ` +
            "stop it with Ctrl-C (which also removes what it made) or wait for it to finish, then run this again"
        : `a quickstart is still running (pid ${other}): stop it with Ctrl-C, which removes what it made, ` +
            "or wait for it to finish, then run down",
    );
  const file = quickstartLockFile();
  writeFileSync(file, `${process.pid}\n`);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off("exit", release);
    if (existsSync(file) && readFileSync(file, "utf8").trim() === String(process.pid))
      rmSync(file, { force: true });
  };
  process.on("exit", release);
  return release;
}

/** Resolves when the dashboard could listen on 127.0.0.1:port; rejects with what to do when not. */
export async function checkDashboardPort(port: number): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE")
        reject(
          new QuickstartRefusal(
            `the dashboard's port ${port} on 127.0.0.1 is in use (by another quickstart or kubectl jude ` +
              "dashboard?): pick another with --dashboard-port N (0 picks a free one)",
          ),
        );
      else if (error.code === "EACCES")
        reject(
          new QuickstartRefusal(
            `may not listen on port ${port} on 127.0.0.1 (ports below 1024 need privileges): ` +
              "pick another with --dashboard-port N",
          ),
        );
      else reject(error);
    });
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}
