import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mountScript, planMounts, quote, resolveInRoot, type HostTree } from "./mount-plan.ts";

/** A small host tree: /usr, /bin -> usr/bin, /etc/{passwd,ssl/}, /var/run -> /run, /run/lock. */
const entries: Record<string, string | string[]> = {
  "/": ["bin", "etc", "run", "usr", "var"],
  "/bin": "link:usr/bin",
  "/etc": ["passwd", "ssl"],
  "/etc/passwd": "file",
  "/etc/ssl": [],
  "/run": ["lock"],
  "/run/lock": [],
  "/usr": [],
  "/var": ["run"],
  "/var/run": "link:/run",
};
const host: HostTree = {
  kind(path) {
    const entry = entries[path];
    if (entry === undefined) return "missing";
    if (Array.isArray(entry)) return "dir";
    return entry.startsWith("link:") ? "symlink" : "file";
  },
  readlink: (path) => String(entries[path]).slice("link:".length),
  list: (dir) => entries[dir] as string[],
};

describe("pod mount plan", () => {
  it("follows the host's symlinks so a mount lands where the process looks", () => {
    expect(resolveInRoot("/var/run/secrets/kubernetes.io/serviceaccount", host)).toBe(
      "/run/secrets/kubernetes.io/serviceaccount",
    );
    expect(resolveInRoot("/bin/tool", host)).toBe("/usr/bin/tool");
    expect(resolveInRoot("/etc/jude/", host)).toBe("/etc/jude");
  });

  it("binds untouched host folders whole and rebuilds only those above a mountPath", () => {
    const ops = planMounts(
      [{ target: "/etc/jude", source: "/state/cfg", kind: "dir", readOnly: true }],
      host,
    );
    expect(ops).toEqual([
      { op: "symlink", path: "/bin", value: "usr/bin" },
      { op: "mkdir", path: "/etc" },
      {
        op: "bind",
        source: "/etc/passwd",
        path: "/etc/passwd",
        kind: "file",
        recursive: false,
        readOnly: false,
      },
      { op: "mkdir", path: "/etc/ssl" },
      { op: "bind", source: "/etc/ssl", path: "/etc/ssl", kind: "dir", recursive: true, readOnly: false },
      { op: "mkdir", path: "/run" },
      { op: "bind", source: "/run", path: "/run", kind: "dir", recursive: true, readOnly: false },
      { op: "mkdir", path: "/usr" },
      { op: "bind", source: "/usr", path: "/usr", kind: "dir", recursive: true, readOnly: false },
      { op: "mkdir", path: "/var" },
      { op: "bind", source: "/var", path: "/var", kind: "dir", recursive: true, readOnly: false },
      { op: "mkdir", path: "/etc/jude" },
      { op: "bind", source: "/state/cfg", path: "/etc/jude", kind: "dir", recursive: false, readOnly: true },
    ]);
  });

  it("replaces a host file that is itself a mount target, and mounts parents before children", () => {
    const ops = planMounts(
      [
        { target: "/data/models/mini", source: "/cache/model", kind: "dir", readOnly: true },
        { target: "/data", source: "/state/empty", kind: "dir", readOnly: false },
        { target: "/etc/passwd", source: "/state/passwd", kind: "file", readOnly: false },
      ],
      host,
    );
    expect(ops.some((op) => op.op === "bind" && op.source === "/etc/passwd")).toBe(false);
    const binds = ops.filter((op) => op.op === "bind" && !op.recursive).map((op) => op.path);
    expect(binds).toEqual(["/data", "/etc/passwd", "/data/models/mini"]);
  });

  it("binds an image's entries read-only from its folder, with the host's /proc and /dev over them", () => {
    const ops = planMounts(
      [
        { target: "/proc", source: "/proc", kind: "dir", readOnly: false, recursive: true },
        { target: "/var/run/jude/auth", source: "/state/auth", kind: "dir", readOnly: true },
      ],
      host,
      { sourceRoot: "/images/jude", readOnly: true },
    );
    expect(ops).toContainEqual({
      op: "bind",
      source: "/images/jude/usr",
      path: "/usr",
      kind: "dir",
      recursive: true,
      readOnly: true,
    });
    // The image's /var/run -> /run link decides where the volume lands; /run is rebuilt, not bound.
    expect(ops.some((op) => op.op === "bind" && op.path === "/run")).toBe(false);
    expect(ops).toContainEqual({
      op: "bind",
      source: "/images/jude/run/lock",
      path: "/run/lock",
      kind: "dir",
      recursive: true,
      readOnly: true,
    });
    expect(
      ops.filter(
        (op) =>
          (op.op === "bind" && op.source.startsWith("/state")) || (op.op === "bind" && op.source === "/proc"),
      ),
    ).toEqual([
      { op: "bind", source: "/proc", path: "/proc", kind: "dir", recursive: true, readOnly: false },
      {
        op: "bind",
        source: "/state/auth",
        path: "/run/jude/auth",
        kind: "dir",
        recursive: false,
        readOnly: true,
      },
    ]);
  });

  it("renders a script that builds the root and execs the process as the user in its folder", () => {
    const script = mountScript(
      [{ op: "bind", source: "/a b", path: "/x", kind: "file", recursive: false, readOnly: true }],
      "65532:65532",
      "/srv",
    );
    expect(script).toContain("[ -e \"$R\"'/x' ] || /usr/bin/touch \"$R\"'/x'");
    expect(script).toContain("/usr/bin/mount --bind '/a b' \"$R\"'/x'");
    expect(script).toContain("/usr/bin/mount -o remount,bind,ro \"$R\"'/x'");
    expect(script.split("\n").at(-1)).toBe(
      'exec /usr/sbin/chroot --userspec=65532:65532 "$R" /usr/bin/env -C \'/srv\' -- "$@"',
    );
    expect(quote("it's")).toBe("'it'\\''s'");
  });

  it("makes the root read-only once built under readOnlyRootFilesystem, volumes keeping their flags", () => {
    const ops = planMounts(
      [
        { target: "/data", source: "/state/empty", kind: "dir", readOnly: false },
        { target: "/etc/jude", source: "/state/cfg", kind: "dir", readOnly: true },
      ],
      host,
      { sourceRoot: "/", readOnly: true },
    );
    const lines = mountScript(ops, undefined, "/", true).split("\n");
    // The host's /run is bound read-only with its submounts (/run/netns), before the volumes.
    const run = lines.indexOf("/usr/bin/mount --rbind '/run' \"$R\"'/run'");
    expect(lines.slice(run + 1, run + 3)).toEqual([
      "/usr/bin/mount -o remount,bind,ro \"$R\"'/run'",
      "/usr/bin/findmnt -rn -o TARGET -R \"$R\"'/run' | /usr/bin/tail -n +2 | " +
        'while read -r m; do /usr/bin/mount -o remount,bind,ro "$m" || [ ! -e "$m" ]; done',
    ]);
    // A listed submount gone before its remount (another pod's netns, deleted meanwhile) is skipped;
    // a remount failing on one still there fails the script. Run with the two commands stood in for.
    const loop = (failing: string) =>
      spawnSync("/bin/sh", [
        "-c",
        [
          "set -e",
          lines[run + 2]!.replace(
            /^.*?\| \/usr\/bin\/tail -n \+2 \|/,
            `printf '%s\\n' ${failing} |`,
          ).replaceAll("/usr/bin/mount -o remount,bind,ro", "false"),
          "echo built",
        ].join("\n"),
      ]);
    expect(loop("/run/netns/gone-meanwhile").stdout.toString()).toBe("built\n");
    expect(loop("/").status).not.toBe(0);
    const data = lines.indexOf("/usr/bin/mount --bind '/state/empty' \"$R\"'/data'");
    expect(lines[data + 1]).not.toContain("remount");
    expect(lines.indexOf("/usr/bin/mount --bind '/state/cfg' \"$R\"'/etc/jude'")).toBeGreaterThan(run);
    // Last of all, after every mkdir and touch: the root itself, right before the ready file.
    expect(lines.slice(-3, -1)).toEqual(['/usr/bin/mount -o remount,bind,ro "$R"', ': > "$S"']);
    expect(mountScript(ops, undefined, "/")).not.toContain('remount,bind,ro "$R"\n');
  });
});
