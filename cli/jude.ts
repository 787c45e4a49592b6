#!/usr/bin/env node
/**
 * The single entry point of the image: `jude <operator|serve|nearline|bootstrap|fetch-model> [flags]`.
 * The subcommands and their dispatch are in jude/commands.ts; each is loaded only when it runs.
 */
import { enableCompileCache } from "node:module";
import { run } from "./jude/commands.ts";

// Before a subcommand loads: V8's code cache on disk (NODE_COMPILE_CACHE, else
// <tmpdir>/node-compile-cache; pods mount an emptyDir at /tmp, which outlives a container restart): a
// worker restarted after a crash compiles its ~1,100 modules from the cache, about 30% less start-up
// CPU for `jude nearline` (measured). Best effort: an unwritable directory just means no cache.
process.exitCode = await run(process.argv.slice(2), () => void enableCompileCache());
