// What a user who mistypes gets from `kubectl jude` before any cluster is involved: one line naming
// the problem (and the usage for a usage error), never a stack trace from the client library.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadKubeConfig, PluginError } from "./cluster.ts";
import { commands, flagOptions } from "./flags.ts";
import {
  emptyClusterAnswer,
  judeApiResources,
  kubeconfigFor,
  notFoundStatus,
  promotingModel,
} from "./fixtures.test-data.ts";

const execFileAsync = promisify(execFile);
const plugin = join(import.meta.dirname, "..", "kubectl-jude.ts");

/** Runs the plugin as a user would; resolves its exit code and output. */
async function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [plugin, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

const folder = mkdtempSync(join(tmpdir(), "kubectl-jude-errors-"));
const kubeconfig = join(folder, "config");
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
    users: [{ name: "u", user: { token: "t" } }],
    contexts: [{ name: "dev", context: { cluster: "c", user: "u" } }],
    "current-context": "dev",
  }),
);

// Each test starts the plugin as a process (about 1 s of CPU to load the Kubernetes client): on a
// loaded machine one start took over 5 s, vitest's default timeout.
describe("kubectl jude usage and kubeconfig errors", { timeout: 60_000 }, () => {
  it("rejects an unsupported completion shell as a usage error (exit 2)", async () => {
    const { code, stderr } = await run(["completion", "fish"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^kubectl jude: unsupported shell "fish" for completion: use bash or zsh\nSee 'kubectl jude completion --help' for usage\.\n$/,
    );
    expect(stderr).not.toContain("    at ");
  });

  it("refuses -A for approve and rollback, which change one model (exit 2)", async () => {
    for (const command of ["approve", "rollback"]) {
      const { code, stderr } = await run([command, "minilm", "-A", "--kubeconfig", kubeconfig]);
      expect(code).toBe(2);
      expect(stderr).toBe(
        `kubectl jude: ${command} changes one EmbeddingModel: name its namespace with -n, not -A\nSee 'kubectl jude ${command} --help' for usage.\n`,
      );
    }
  });

  it("refuses a flag the command does not read, instead of ignoring it (exit 2)", async () => {
    // Each was accepted and did nothing: `status --port 8080` printed the status, `approve -o json`
    // printed text, `dashboard --to v1` served the page. The cluster (127.0.0.1:1) is never asked.
    const cases: Array<[string[], string]> = [
      [["status", "--port", "8080"], "status does not take --port"],
      [["status", "minilm", "--to", "minilm-v1"], "status does not take --to"],
      [["approve", "minilm", "-o", "json"], "approve does not take -o/--output"],
      [["approve", "minilm", "--to", "minilm-v2"], "approve does not take --to"],
      [["rollback", "minilm", "--output=json"], "rollback does not take -o/--output"],
      [["rollback", "minilm", "--port", "3100"], "rollback does not take --port"],
      [["dashboard", "-o", "json"], "dashboard does not take -o/--output"],
      [["dashboard", "--to", "minilm-v1"], "dashboard does not take --to"],
      [["completion", "bash", "-n", "recs"], "completion does not take -n/--namespace"],
      [["completion", "zsh", "--kubeconfig", kubeconfig], "completion does not take --kubeconfig"],
    ];
    const results = await Promise.all(cases.map(([args]) => run([...args, "--kubeconfig", kubeconfig])));
    for (const [index, [args, message]] of cases.entries()) {
      const { code, stderr } = results[index]!;
      expect({ args, code, line: stderr.split("\n")[0] }).toEqual({
        args,
        code: 2,
        line: expect.stringMatching(`^kubectl jude: ${message} \\(its flags: `),
      });
    }
    // The whole line: the flags the command does read.
    const { stderr } = await run(["status", "--port", "8080", "--kubeconfig", kubeconfig]);
    expect(stderr).toMatch(
      /^kubectl jude: status does not take --port \(its flags: -n\/--namespace, -A\/--all-namespaces, -o\/--output, --context, --kubeconfig, --request-timeout\)\nSee 'kubectl jude status --help' for usage\.\n$/,
    );
  });

  it("prints its usage on stdout and exits 0 with no arguments, as kubectl does", async () => {
    // Was exit 2: `kubectl` and its Cobra plugins print their help and succeed when given no command.
    const { code, stdout, stderr } = await run([]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(/^usage: kubectl jude <command> \[flags\]\n/);
  });

  it("prints its own version, without a kubeconfig, and refuses arguments and flags to it", async () => {
    const version = (
      JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    const missing = join(folder, "absent");
    const printed = await run(["version"], { ...process.env, KUBECONFIG: missing });
    expect(printed).toEqual({ code: 0, stdout: `kubectl-jude ${version}\n`, stderr: "" });
    const [extra, flag] = await Promise.all([run(["version", "now"]), run(["version", "-n", "recs"])]);
    expect([extra.code, extra.stderr.split("\n")[0]]).toEqual([
      2,
      'kubectl jude: version takes no arguments, not "now"',
    ]);
    expect([flag.code, flag.stderr.split("\n")[0]]).toEqual([
      2,
      "kubectl jude: version does not take -n/--namespace (its flags: none)",
    ]);
  });

  it("documents in --help every flag and command it reads", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const name of Object.keys(flagOptions)) expect(stdout).toMatch(new RegExp(`^ .* --${name}\\b`, "m"));
    for (const command of commands) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
  });

  it("refuses arguments a command does not take, instead of ignoring them (exit 2)", async () => {
    const cases: Array<[string[], string]> = [
      [["status", "minilm", "bge"], 'status takes at most one EmbeddingModel name, not also "bge"'],
      [
        ["approve", "minilm", "minilm-v2", "now"],
        'approve takes an EmbeddingModel name and at most a version, not also "now"',
      ],
      [
        ["rollback", "minilm", "minilm-v0", "extra"],
        'rollback takes an EmbeddingModel name and at most a version, not also "extra"',
      ],
      [
        ["rollback", "minilm", "minilm-v0", "--to", "minilm-v1"],
        "rollback takes the version once: as --to minilm-v1 or as minilm-v0, not both",
      ],
      [["dashboard", "recs"], 'dashboard takes no arguments, not "recs" (a namespace is -n recs)'],
      [["completion", "bash", "zsh"], 'completion takes one shell, not also "zsh"'],
    ];
    const results = await Promise.all(
      cases.map(([args]) => run(args[0] === "completion" ? args : [...args, "--kubeconfig", kubeconfig])),
    );
    for (const [index, [args, message]] of cases.entries()) {
      const { code, stderr } = results[index]!;
      expect({ args, code, stderr: stderr.split("\n")[0] }).toEqual({
        args,
        code: 2,
        stderr: `kubectl jude: ${message}`,
      });
    }
  });

  it("says each usage error in one line and where the usage is, as kubectl does (exit 2)", async () => {
    // `completion bash --x` printed the whole general usage after the error; every command with an
    // unknown flag, a missing argument or value, one argument too many, and an unknown command now
    // gets one line naming the problem, then kubectl's "See '… --help' for usage." line.
    const hint = (command?: string) =>
      `See 'kubectl jude ${command === undefined ? "" : `${command} `}--help' for usage.`;
    const flagsOf: Record<string, string> = {
      status: "-n/--namespace, -A/--all-namespaces, -o/--output, --context, --kubeconfig, --request-timeout",
      approve: "-n/--namespace, --context, --kubeconfig, --request-timeout",
      rollback: "-n/--namespace, --context, --kubeconfig, --request-timeout, --to",
      dashboard: "-n/--namespace, -A/--all-namespaces, --port, --context, --kubeconfig, --request-timeout",
      completion: "none",
      version: "none",
    };
    const needs: Record<string, string[]> = {
      approve: ["minilm"],
      rollback: ["minilm"],
      completion: ["bash"],
    };
    const cases: Array<[string[], string, string]> = [
      ...commands.map((command): [string[], string, string] => [
        [command, ...(needs[command] ?? []), "--x"],
        `unknown flag "--x" for ${command} (its flags: ${flagsOf[command]})`,
        hint(command),
      ]),
      [["--x"], 'unknown flag "--x"', hint()],
      // Before the command: an unknown flag may or may not take the next word as its value, so that
      // word is not taken for the command (`--foo bar status` said `unknown command "bar"`).
      [["--foo", "bar", "status"], 'unknown flag "--foo"', hint()],
      [["-n", "recs", "-x", "bar", "status"], 'unknown flag "-x"', hint()],
      // A known flag's value is not the command; the word after a boolean flag is.
      [["-n", "recs", "stauts"], 'unknown command "stauts"', hint()],
      [["-A", "stauts"], 'unknown command "stauts"', hint()],
      // Missing: a required argument, a flag's value.
      [["approve"], "approve needs the name of an EmbeddingModel", hint("approve")],
      [["rollback", "-n", "recs"], "rollback needs the name of an EmbeddingModel", hint("rollback")],
      [["status", "-n"], "-n/--namespace needs a value", hint("status")],
      [["dashboard", "--port"], "--port needs a value", hint("dashboard")],
      [["rollback", "minilm", "--to"], "--to needs a value", hint("rollback")],
      [
        ["status", "--all-namespaces=yes"],
        "-A/--all-namespaces takes no value (give it alone to turn it on)",
        hint("status"),
      ],
      // One argument too many.
      [["status", "a", "b"], 'status takes at most one EmbeddingModel name, not also "b"', hint("status")],
      [["completion", "bash", "zsh"], 'completion takes one shell, not also "zsh"', hint("completion")],
      [["version", "now"], 'version takes no arguments, not "now"', hint("version")],
      [
        ["dashboard", "recs"],
        'dashboard takes no arguments, not "recs" (a namespace is -n recs)',
        hint("dashboard"),
      ],
      [["help", "status", "approve"], 'help takes one command, not also "approve"', hint()],
      // A command that does not exist, before any flag after it.
      [["stauts"], 'unknown command "stauts"', hint()],
      [["stauts", "--x"], 'unknown command "stauts"', hint()],
      [["help", "stauts"], 'unknown command "stauts"', hint()],
    ];
    const missing = join(folder, "absent");
    // The kubeconfig first: a flag left without its value at the end is the case tested (completion
    // and version take no flags, and need no kubeconfig).
    const results = await Promise.all(
      cases.map(([args]) =>
        run(["completion", "version"].includes(args[0]!) ? args : ["--kubeconfig", missing, ...args]),
      ),
    );
    for (const [index, [args, message, usage]] of cases.entries()) {
      const { code, stdout, stderr } = results[index]!;
      expect({ args, code, stdout, stderr }).toEqual({
        args,
        code: 2,
        stdout: "",
        stderr: `kubectl jude: ${message}\n${usage}\n`,
      });
    }
  });

  it("reports a usage error before loading the kubeconfig (exit 2, not a kubeconfig error)", async () => {
    // Was: "cannot load the kubeconfig …" (exit 1) for a command line that could never have worked.
    const missing = join(folder, "absent");
    const cases: Array<[string[], string]> = [
      [["approve"], "approve needs the name of an EmbeddingModel"],
      [["rollback", "-n", "recs"], "rollback needs the name of an EmbeddingModel"],
      [["dashboard", "--port", "abc"], '--port must be a port number, not "abc"'],
      [["dashboard", "--port", "70000"], '--port must be a port number, not "70000"'],
      // kubectl's own names for formats the plugin does not write: the ones it does are named.
      [["status", "-o", "wide"], 'unknown output format "wide" (status writes text, json or yaml)'],
      [["status", "-o", "name"], 'unknown output format "name" (status writes text, json or yaml)'],
      // A flag no command reads: said in one line, not node:util's advice on positionals after "--".
      [
        ["status", "-x"],
        'unknown flag "-x" for status (its flags: -n/--namespace, -A/--all-namespaces, -o/--output, --context, --kubeconfig, --request-timeout)',
      ],
      [
        ["approve", "minilm", "--nmespace", "recs"],
        'unknown flag "--nmespace" for approve (its flags: -n/--namespace, --context, --kubeconfig, --request-timeout)',
      ],
      // `-o=wide` as kubectl (pflag) reads it: the value after the "=", not "=wide".
      [["status", "-o=wide"], 'unknown output format "wide" (status writes text, json or yaml)'],
    ];
    const results = await Promise.all(cases.map(([args]) => run([...args, "--kubeconfig", missing])));
    for (const [index, [args, message]] of cases.entries()) {
      const { code, stderr } = results[index]!;
      expect({ args, code, stderr: stderr.split("\n")[0] }).toEqual({
        args,
        code: 2,
        stderr: `kubectl jude: ${message}`,
      });
    }
  });

  it("names a kubeconfig file that does not exist (exit 1)", async () => {
    const missing = join(folder, "absent");
    const { code, stderr } = await run(["status", "--kubeconfig", missing]);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `kubectl jude: cannot load the kubeconfig ${missing}: ENOENT: no such file or directory, open '${missing}'\n`,
    );
  });

  it("names a kubeconfig that is not YAML, and a context it does not have", () => {
    const broken = join(folder, "broken");
    writeFileSync(broken, "clusters: [\n");
    expect(() => loadKubeConfig({ kubeconfig: broken })).toThrow(
      new RegExp(`^cannot load the kubeconfig ${broken}: `),
    );
    expect(() => loadKubeConfig({ kubeconfig, context: "prod" })).toThrow(
      new PluginError(`context "prod" is not in the kubeconfig ${kubeconfig} (it has: dev)`),
    );
    expect(loadKubeConfig({ kubeconfig, context: "dev" }).getCurrentCluster()?.server).toBe(
      "https://127.0.0.1:1",
    );
  });

  it("says a kubeconfig sets no current context, naming the contexts it has", () => {
    // Was: `names no cluster for context "undefined"`.
    const unset = join(folder, "no-current-context");
    const config = { apiVersion: "v1", kind: "Config", clusters: [], users: [], contexts: [] };
    writeFileSync(unset, JSON.stringify(config));
    expect(() => loadKubeConfig({ kubeconfig: unset })).toThrow(
      new PluginError(`the kubeconfig ${unset} sets no current-context and has no contexts`),
    );
    const { "current-context": _current, ...withContexts } = JSON.parse(readFileSync(kubeconfig, "utf8")) as {
      "current-context": string;
    };
    writeFileSync(unset, JSON.stringify(withContexts));
    expect(() => loadKubeConfig({ kubeconfig: unset })).toThrow(
      new PluginError(`the kubeconfig ${unset} sets no current-context: pass --context NAME (it has: dev)`),
    );
    expect(loadKubeConfig({ kubeconfig: unset, context: "dev" }).getCurrentCluster()?.server).toBe(
      "https://127.0.0.1:1",
    );
  });

  it('reads -n "" as kubectl does, the context\'s namespace, not every namespace', async () => {
    // An unset variable in `kubectl jude status -n "$NS"`: kubectl lists the context's namespace; the
    // plugin listed every namespace (the cluster-wide path) under a blank "in namespace ".
    const paths: string[] = [];
    const server = createHttpServer((request, response) => {
      paths.push(request.url ?? "");
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(emptyClusterAnswer(request.url)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "context-namespace", (server.address() as AddressInfo).port);
    try {
      for (const namespace of ["-n=", "--namespace="]) {
        paths.length = 0;
        const { code, stdout, stderr } = await run(["status", namespace, "--kubeconfig", file]);
        expect({ code, stdout, stderr }).toEqual({
          code: 0,
          stdout: "No EmbeddingModels found in namespace recs.\n",
          stderr: "",
        });
        expect(paths.map((path) => path.split("?")[0])).toContain(
          "/apis/jude.dev/v1alpha1/namespaces/recs/embeddingmodels",
        );
      }
    } finally {
      server.close();
    }
  });

  it('reads --kubeconfig="" and --context="" as kubectl does: not given (KUBECONFIG, ~/.kube/config, its current context)', async () => {
    // An unset variable in `--kubeconfig="$KC"` or `--context="$CTX"`: kubectl resolves the kubeconfig
    // and context as without the flag; the plugin failed to load the kubeconfig "" or context "".
    const server = createHttpServer((request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(emptyClusterAnswer(request.url)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "empty-flags", (server.address() as AddressInfo).port);
    const home = mkdtempSync(join(tmpdir(), "kubectl-jude-home-"));
    mkdirSync(join(home, ".kube"));
    writeFileSync(join(home, ".kube", "config"), readFileSync(file));
    const { KUBECONFIG: _kubeconfig, ...withoutKubeconfig } = process.env;
    const found = { code: 0, stdout: "No EmbeddingModels found in namespace recs.\n", stderr: "" };
    try {
      const cases: [string[], NodeJS.ProcessEnv][] = [
        [["--kubeconfig="], { ...process.env, KUBECONFIG: file }],
        [["--kubeconfig", ""], { ...process.env, KUBECONFIG: file }],
        [["--kubeconfig=", "--context="], { ...withoutKubeconfig, HOME: home }],
        [["--context=", "--kubeconfig", file], process.env],
      ];
      for (const [flags, env] of cases) {
        const { code, stdout, stderr } = await run(["status", ...flags], env);
        expect({ flags, code, stdout, stderr }).toEqual({ flags, ...found });
      }
    } finally {
      server.close();
    }
  });

  it("says there is no kubeconfig instead of talking about localhost:8080", async () => {
    const home = mkdtempSync(join(tmpdir(), "kubectl-jude-home-"));
    const { KUBECONFIG: _kubeconfig, KUBERNETES_SERVICE_HOST: _host, ...env } = process.env;
    const { code, stderr } = await run(["status"], { ...env, HOME: home });
    expect(code).toBe(1);
    expect(stderr).toBe(
      `kubectl jude: no kubeconfig: ${join(home, ".kube", "config")} does not exist; pass --kubeconfig FILE or set KUBECONFIG\n`,
    );
  });

  it("merges the files of KUBECONFIG as kubectl does: a missing one skipped, the first to set a value wins", () => {
    // Was: a missing file in the list failed the command (ENOENT), a name two files share failed it
    // ("Duplicate cluster"), and the last file's current-context won.
    const config = (server: string, current: string, contexts: string[]) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "c", cluster: { server } },
          { name: `other-${current}`, cluster: { server: `${server}0` } },
        ],
        users: [{ name: "u", user: { token: current } }],
        contexts: contexts.map((name) => ({
          name,
          context: { cluster: name === "dev" ? "c" : `other-${current}`, user: "u" },
        })),
        "current-context": current,
      });
    const first = join(folder, "merge-first");
    const second = join(folder, "merge-second");
    writeFileSync(first, config("https://127.0.0.1:1", "dev", ["dev"]));
    writeFileSync(second, config("https://127.0.0.1:2", "prod", ["dev", "prod"]));
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = [join(folder, "merge-absent"), first, "", second].join(":");
      const merged = loadKubeConfig({});
      expect(merged.getCurrentContext()).toBe("dev");
      expect(merged.getCurrentCluster()?.server).toBe("https://127.0.0.1:1");
      expect(merged.getCurrentUser()?.token).toBe("dev");
      expect(merged.getContexts().map((context) => context.name)).toEqual(["dev", "prod"]);
      const prod = loadKubeConfig({ context: "prod" });
      expect(prod.getCurrentCluster()?.server).toBe("https://127.0.0.1:20");
      process.env.KUBECONFIG = [join(folder, "merge-absent"), join(folder, "merge-absent-too")].join(":");
      expect(() => loadKubeConfig({})).toThrow(
        new PluginError(
          `no kubeconfig: none of the files in KUBECONFIG exist (${process.env.KUBECONFIG}); pass --kubeconfig FILE or set KUBECONFIG`,
        ),
      );
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("skips an empty file in KUBECONFIG, as kubectl does, and names the file that is not YAML", () => {
    // Was: an empty file in the list failed the command ("Cannot read properties of undefined"), and
    // a file that is not YAML was reported as the whole list.
    const empty = join(folder, "merge-empty");
    const broken = join(folder, "merge-broken");
    writeFileSync(empty, "");
    writeFileSync(broken, "clusters: [unclosed\n");
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = [empty, kubeconfig].join(":");
      const merged = loadKubeConfig({});
      expect(merged.getCurrentContext()).toBe("dev");
      expect(merged.getCurrentCluster()?.server).toBe("https://127.0.0.1:1");
      // A relative path in a later file is read against that file's folder, not the first file's.
      const later = join(folder, "later", "config");
      mkdirSync(join(folder, "later"), { recursive: true });
      writeFileSync(
        later,
        JSON.stringify({
          clusters: [
            { name: "ca", cluster: { server: "https://127.0.0.1:3", "certificate-authority": "ca.crt" } },
          ],
          users: [{ name: "cert", user: { "client-certificate": "u.crt", "client-key": "u.key" } }],
          contexts: [{ name: "later", context: { cluster: "ca", user: "cert" } }],
        }),
      );
      process.env.KUBECONFIG = [empty, kubeconfig, later].join(":");
      const relative = loadKubeConfig({ context: "later" });
      expect(relative.getCurrentCluster()?.caFile).toBe(join(folder, "later", "ca.crt"));
      expect(relative.getCurrentUser()?.keyFile).toBe(join(folder, "later", "u.key"));
      process.env.KUBECONFIG = [kubeconfig, broken].join(":");
      expect(() => loadKubeConfig({})).toThrow(
        /^cannot load the kubeconfig \S+merge-broken \(in KUBECONFIG\): /,
      );
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("reads a token-file and an exec command path against the kubeconfig's folder, as kubectl does", async () => {
    // Was: both were read against the current directory: the token file was not found (the command
    // failed, ENOENT) and `./bin/get-token` was looked for where the user happened to be.
    const tokens = join(folder, "tokens");
    mkdirSync(join(tokens, "bin"), { recursive: true });
    writeFileSync(join(tokens, "token"), "from-the-file");
    const file = join(tokens, "config");
    writeFileSync(
      file,
      JSON.stringify({
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:4" } }],
        users: [
          { name: "file", user: { "token-file": "token" } },
          {
            name: "exec",
            user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "./bin/get-token" } },
          },
          {
            name: "path",
            user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "get-token" } },
          },
        ],
        contexts: ["file", "exec", "path"].map((name) => ({ name, context: { cluster: "c", user: name } })),
        "current-context": "file",
      }),
    );
    const saved = process.env.KUBECONFIG;
    try {
      for (const kubeconfigs of [{ kubeconfig: file }, {}]) {
        process.env.KUBECONFIG = [kubeconfig, file].join(":");
        const config = loadKubeConfig({ ...kubeconfigs, context: "file" });
        const request: { headers?: Record<string, unknown> } = {};
        await config.applyToHTTPSOptions(request);
        expect(request.headers?.authorization).toBe("Bearer from-the-file");
        const users = Object.fromEntries(config.getUsers().map((user) => [user.name, user.exec?.command]));
        // A command without a separator is looked up on PATH, as kubectl does.
        expect([users.exec, users.path]).toEqual([join(tokens, "bin", "get-token"), "get-token"]);
      }
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("stops quietly when its reader goes away (`| head -1`), without a stack trace", async () => {
    // Was: "Error: write EPIPE … Unhandled 'error' event" and a stack on stderr, exit 1.
    const models = Array.from({ length: 2000 }, (_, index) => {
      const model = promotingModel();
      model.metadata.name = `model-${index}`;
      return model;
    });
    const server = createHttpServer((request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify(
          request.url === "/apis/jude.dev/v1alpha1"
            ? judeApiResources
            : {
                apiVersion: "v1",
                kind: "List",
                metadata: {},
                items: request.url?.includes("/embeddingmodels") ? models : [],
              },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "many-models", (server.address() as AddressInfo).port);
    try {
      for (const output of ["text", "json"]) {
        const child = spawn(process.execPath, [plugin, "status", "-o", output, "--kubeconfig", file], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
        // The first chunk read, the reader closes its end, as `head -1` does.
        child.stdout.once("data", () => child.stdout.destroy());
        const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
        expect({ output, code, stderr }).toEqual({ output, code: 0, stderr: "" });
      }
    } finally {
      server.close();
    }
  });

  it("keeps its exit code when stderr's reader is gone (`2>&1 | head -1`, a closed log pipe)", async () => {
    // Was: the EPIPE of the error line was an unhandled error, and a usage error exited 1 instead of 2.
    for (const [args, expected] of [
      [["approve", "-A", "minilm"], 2],
      [["status", "--kubeconfig", kubeconfig, "--request-timeout", "1s"], 1],
    ] as const) {
      const child = spawn(process.execPath, [plugin, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      // Closed before the plugin has loaded, so its first write to stderr finds no reader.
      child.stderr.destroy();
      const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
      expect({ args, code }).toEqual({ args, code: expected });
    }
  });

  it("says the JUDE resources are not installed when approve or rollback finds no EmbeddingModel kind", async () => {
    // Was: "EmbeddingModel minilm not found in namespace recs", as if only the object were missing.
    const server = createHttpServer((_request, response) => {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "the server could not find the requested resource",
          reason: "NotFound",
          code: 404,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "no-crds", (server.address() as AddressInfo).port);
    try {
      const results = await Promise.all(
        ["approve", "rollback"].map((command) => run([command, "minilm", "--kubeconfig", file])),
      );
      for (const { code, stderr } of results)
        expect({ code, stderr }).toEqual({
          code: 1,
          stderr:
            "kubectl jude: the JUDE resources (embeddingmodels.jude.dev) are not installed in this cluster: install the operator with its CRDs (helm install jude-operator charts/jude-operator)\n",
        });
    } finally {
      server.close();
    }
  });

  it("names the closest models of the namespace for a mistyped model name (status, approve)", async () => {
    const models = ["minilm", "bge-small"].map((name) => ({
      apiVersion: "jude.dev/v1alpha1",
      kind: "EmbeddingModel",
      metadata: { name, namespace: "recs" },
      spec: {},
    }));
    const server = createHttpServer((request, response) => {
      const reply = (status: number, body: unknown) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(body));
      };
      if (request.url === "/apis/jude.dev/v1alpha1") return reply(200, judeApiResources);
      if (/\/embeddingmodels\/[^/?]+$/.test(request.url ?? "")) return reply(404, notFoundStatus);
      const items = /\/embeddingmodels(\?|$)/.test(request.url ?? "") ? models : [];
      reply(200, { kind: "List", apiVersion: "jude.dev/v1alpha1", metadata: {}, items });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "models", (server.address() as AddressInfo).port);
    try {
      for (const command of ["status", "approve"])
        expect(await run([command, "minlm", "-n", "recs", "--kubeconfig", file])).toMatchObject({
          code: 1,
          stderr: "kubectl jude: EmbeddingModel minlm not found in namespace recs; did you mean minilm?\n",
        });
      expect(await run(["status", "absent", "-n", "recs", "--kubeconfig", file])).toMatchObject({
        code: 1,
        stderr: "kubectl jude: EmbeddingModel absent not found in namespace recs\n",
      });
    } finally {
      server.close();
    }
  });

  it("makes the control characters of an API server's message visible on stderr, as in the status text", async () => {
    // Was: a Status message (or an admission webhook's) with an escape sequence reached the terminal as
    const server = createHttpServer((request, response) => {
      if (request.url === "/apis/jude.dev/v1alpha1") {
        response.writeHead(200, { "content-type": "application/json" });
        return void response.end(JSON.stringify(judeApiResources));
      }
      response.writeHead(500, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "webhook said \u001b]0;pwned\u0007\u001b[2Jno\nkubectl jude: all good",
          reason: "InternalError",
          code: 500,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const file = kubeconfigFor(folder, "escapes", (server.address() as AddressInfo).port);
    try {
      const { code, stderr } = await run(["status", "--kubeconfig", file]);
      expect({ code, stderr }).toEqual({
        code: 1,
        stderr:
          "kubectl jude: cannot list embeddingmodels in namespace recs: HTTP 500 (webhook said ^[]0;pwned\\a^[[2Jno\\nkubectl jude: all good)\n",
      });
    } finally {
      server.close();
    }
  });

  it("gives up on an API server that accepts but never answers after --request-timeout (exit 1)", async () => {
    // Accepts the connection and reads the request, never answers: an overloaded or half-dead API server.
    const silent = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const slow = kubeconfigFor(folder, "slow", port);
    try {
      const { code, stderr } = await run(["status", "--kubeconfig", slow, "--request-timeout", "1s"]);
      expect({ code, stderr }).toEqual({
        code: 1,
        stderr: `kubectl jude: the cluster (http://127.0.0.1:${port}) did not answer within 1s (--request-timeout); check that the API server is up and reachable\n`,
      });
      const invalid = await run(["status", "--kubeconfig", slow, "--request-timeout", "soon"]);
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toMatch(
        /^kubectl jude: --request-timeout must be a duration such as 30s, 1m or 0 \(no limit\), not "soon"\n/,
      );
    } finally {
      silent.close();
    }
  }, 20_000);
});
