/** `jude fetch-model`: the init-container step that fetches and verifies a model artifact. */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createRootLogger } from "../../plumbing/logger.ts";
import { watchShutdownSignals } from "../../plumbing/shutdown.ts";
import { z } from "zod";
import { digestMismatchExitCode, FetchModelError, localWriteError } from "./errors.ts";
import { fetchModel } from "./fetch.ts";
import { redactUri, sameArtifact } from "./redact.ts";

/** The flags `jude fetch-model` parses: its usage names each (cli/jude.test.ts checks). */
export const FETCH_MODEL_FLAGS = [
  "uri",
  "uri-env",
  "sha256",
  "dest",
  "ca-file",
  "token-file",
  "retries",
  "extract",
] as const;

export const USAGE = `usage: jude fetch-model (--uri <https://…|file://…> | --uri-env <name>) --sha256 <hex> --dest <path> [flags]

  --uri <uri>          the model artifact: one file, or a tar / tar.gz of a model directory
  --uri-env <name>     read the URL to download from this environment variable instead (a signed
                       URL from a Secret); --uri, if given, must name the same scheme, host and path
  --sha256 <hex>       expected sha256 of the artifact (also accepts sha256:<hex>)
  --dest <path>        file or directory to create (archives are unpacked into it)
  --ca-file <pem>      extra CA certificates to trust for https://
  --token-file <file>  bearer token for https:// (a mounted Secret)
  --retries <n>        retries of interrupted downloads, each resuming (default 5)
  --extract <mode>     auto (unpack tar archives) | never (default auto)

Exit codes: 0 done, 1 failed, 2 usage error, 3 sha256 mismatch, 75 stopped by SIGTERM (resumable).
`;

const argsSchema = z.object({
  uri: z.string().optional(),
  "uri-env": z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "--uri-env must name an environment variable")
    .optional(),
  sha256: z
    .string({ error: "--sha256 is required" })
    .transform((value) => value.replace(/^sha256:/, "").toLowerCase())
    .pipe(z.string().regex(/^[0-9a-f]{64}$/, "--sha256 must be 64 hex digits")),
  dest: z.string({ error: "--dest is required" }).min(1),
  "ca-file": z.string().optional(),
  "token-file": z.string().optional(),
  retries: z.coerce.number().int().min(0).max(100).default(5),
  extract: z.enum(["auto", "never"]).default("auto"),
});

/**
 * The URL to download: --uri, or the variable --uri-env names (a signed URL from a Secret, which must
 * name the artifact --uri names when both are given). Messages never quote the variable's value.
 */
function downloadUri(args: z.infer<typeof argsSchema>, env: NodeJS.ProcessEnv): string {
  const variable = args["uri-env"];
  if (variable === undefined) {
    if (args.uri === undefined || args.uri === "") throw new Error("--uri or --uri-env is required");
    return args.uri;
  }
  const value = env[variable]?.trim();
  if (value === undefined || value === "")
    throw new Error(`environment variable ${variable} (--uri-env) is not set or empty`);
  if (args.uri !== undefined && !sameArtifact(args.uri, value))
    throw new Error(
      `the URL in ${variable} names ${redactUri(value)}, not ${redactUri(args.uri)} (--uri): the Secret and spec.model.uri must name the same artifact`,
    );
  return value;
}

/** Exit code after SIGTERM/SIGINT stopped a download (EX_TEMPFAIL, as `jude bootstrap`). */
export const EXIT_INTERRUPTED = 75;

/**
 * `jude fetch-model`: the init-container step that fills a pod's model volume. Exit codes: 0 done (or
 * already present), 1 download failed, 2 usage error, 3 the artifact does not match its sha256,
 * 75 stopped by SIGTERM/SIGINT (the partial download is kept for the next start to resume).
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: z.infer<typeof argsSchema>;
  let uri: string;
  try {
    const { values } = parseArgs({
      args: argv,
      options: Object.fromEntries(FETCH_MODEL_FLAGS.map((name) => [name, { type: "string" as const }])),
      strict: true,
    });
    const parsed = argsSchema.safeParse(values);
    if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => issue.message).join("; "));
    args = parsed.data;
    uri = downloadUri(args, process.env);
  } catch (error) {
    process.stderr.write(`jude fetch-model: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const logger = createRootLogger({ component: "fetch-model", bindings: { dest: args.dest } });
  // As a container's PID 1 the process gets no default SIGTERM action: without a handler a deleted
  // pod would wait out its whole grace period while this init container kept downloading.
  const shutdown = watchShutdownSignals();
  try {
    const result = await fetchModel({
      uri,
      sha256: args.sha256,
      dest: args.dest,
      extract: args.extract,
      retries: args.retries,
      signal: shutdown.signal,
      ...(args["ca-file"] ? { ca: await readFile(args["ca-file"]) } : {}),
      ...(args["token-file"] ? { bearerToken: (await readFile(args["token-file"], "utf8")).trim() } : {}),
      onProgress: (event) => {
        if (event.type === "retrying")
          logger.warn({ attempt: event.attempt, code: event.error.code }, event.error.message);
        else logger.info(event, event.type);
      },
    });
    const { dest: _dest, ...summary } = result;
    logger.info(summary, result.cached ? "model already present" : "model fetched and verified");
    return 0;
  } catch (error) {
    if (shutdown.signal.aborted) {
      logger.warn(`stopped by ${(await shutdown.requested) as string}; the next start resumes the download`);
      return EXIT_INTERRUPTED;
    }
    const failure = localWriteError(error) ?? error;
    const code = failure instanceof FetchModelError ? failure.code : "UNEXPECTED";
    logger.error({ code, err: failure }, (failure as Error).message);
    return code === "DIGEST_MISMATCH" ? digestMismatchExitCode : 1;
  } finally {
    shutdown.dispose();
  }
}
