// Each controller's declared reads (primary, owns, watches, reads) against what its code reads from
// the cache. A key waits only for the lists of the declared types (operator/runtime/controller-reads.ts)
// and its reconcile may read no other; this reads the source each controller's definition reaches
// through its imports (all of it, called or not: a superset) and finds every cache get/list, so a new
// read of an undeclared type fails here rather than at run time.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { imagesFor } from "../controllers/shared/image.ts";
import { perVersionTypes } from "../controllers/embedding-model/retire-versions.ts";
import { workerTypes } from "../controllers/nearline-pipeline/reconcile.ts";
import { controllerFactories } from "./controllers.ts";
import { readTypesOf } from "./runtime/controller-reads.ts";
import { resourceName, resourceTypes, type ResourceType } from "./runtime/resource-types.ts";
import type { ControllerDefinition } from "./runtime/types.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Cache reads whose type is not a `resourceTypes.x` literal, by file and argument: what they read. */
const typedReads: Record<
  string,
  Record<string, (definition: ControllerDefinition) => readonly ResourceType[]>
> = {
  // reportNotSynced / reportReconcileError read the object each controller passes: its primary.
  "controllers/shared/reconcile-error.ts": { type: (definition) => [definition.primary] },
  "controllers/embedding-model/retire-versions.ts": { type: () => perVersionTypes },
  "controllers/nearline-pipeline/reconcile.ts": { type: () => workerTypes },
};

/**
 * The project files `entry` imports at run time, transitively (type-only imports carry no reads), but
 * the runtime's own (operator/runtime/: its controller client reads the whole cache by design): a
 * helper in store/ or pipelines/ handed the reconcile's context reads through it as well.
 */
function reachableFiles(entry: string): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  const runtime = path.join(root, "operator", "runtime") + path.sep;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file) || !file.startsWith(root + path.sep) || file.startsWith(runtime)) continue;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    const imports = [
      ...source.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gm),
      ...source.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g),
    ];
    for (const match of imports) pending.push(path.resolve(path.dirname(file), match[1]!));
  }
  return [...seen];
}

/**
 * The uses of a context's cache in `source` the scan cannot follow to a read: `context.cache` not read
 * at once (handed on, aliased) and `{ cache: other }` (renamed). Reads are found by the name `cache`.
 */
function untracedCacheUses(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "");
  return [
    ...[...code.matchAll(/\.cache\b(?!\s*\.\s*(?:get|list)\b)\s*\S?/g)].map((match) => match[0].slice(1)),
    ...[...code.matchAll(/\bcache\s*:\s*[a-z_$][\w$]*/g)].map((match) => match[0]),
  ].map((use) => use.replace(/\s+/g, " "));
}

/** The first argument of every `cache.get(…)` / `cache.list<…>(…)` in `source`. */
function cacheReadArguments(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/\bcache\s*\.\s*(?:get|list)\b\s*/g)) {
    let at = match.index + match[0].length;
    if (source[at] === "<") {
      // Skip the type arguments, which nest (`list<KubeObject & Partial<Pick<…>>>`).
      let depth = 0;
      do {
        if (source[at] === "<") depth += 1;
        else if (source[at] === ">") depth -= 1;
        at += 1;
      } while (depth > 0 && at < source.length);
    }
    const call = /^\s*\(\s*([^,)]+)/.exec(source.slice(at));
    if (call !== null) found.push(call[1]!.trim());
  }
  return found;
}

/** The types `definition`'s code reads from the cache, by resource name, each with where. */
function typesRead(name: string, definition: ControllerDefinition): Map<string, string> {
  const read = new Map<string, string>();
  for (const file of reachableFiles(path.join(root, "controllers", name, "controller.ts"))) {
    const relative = path.relative(root, file).split(path.sep).join("/");
    const source = readFileSync(file, "utf8");
    const untraced = untracedCacheUses(source);
    if (untraced.length > 0)
      throw new Error(
        `${relative} uses the cache where this scan cannot see what it reads: ${untraced.join("; ")}`,
      );
    for (const argument of cacheReadArguments(source)) {
      const literal = /^resourceTypes\.(\w+)$/.exec(argument)?.[1];
      const types =
        literal !== undefined
          ? [resourceTypes[literal as keyof typeof resourceTypes]]
          : typedReads[relative]?.[argument]?.(definition);
      if (types === undefined || types.includes(undefined as never))
        throw new Error(`${relative} reads the cache with ${argument}: say in typedReads what it reads`);
      for (const type of types) read.set(resourceName(type), relative);
    }
  }
  return read;
}

const declaredReads: Record<string, string[]> = {
  "embedding-model": [
    "embeddingmodels.jude.dev",
    "deployments.apps",
    "services",
    "configmaps",
    "poddisruptionbudgets.policy",
    "horizontalpodautoscalers.autoscaling",
    "bootstrapruns.jude.dev",
    "nearlinepipelines.jude.dev",
    "pods",
  ],
  "nearline-pipeline": [
    "nearlinepipelines.jude.dev",
    "deployments.apps",
    "configmaps",
    "poddisruptionbudgets.policy",
    "pods",
    "embeddingmodels.jude.dev",
    "bootstrapruns.jude.dev",
  ],
  // No autoscalers, Services or Deployments: a list of those refused does not hold a run back.
  "bootstrap-run": [
    "bootstrapruns.jude.dev",
    "jobs.batch",
    "configmaps",
    "nearlinepipelines.jude.dev",
    "embeddingmodels.jude.dev",
    "pods",
  ],
};

it("follows a controller's imports out of controllers/ (a helper elsewhere may read the cache)", () => {
  const reached = reachableFiles(path.join(root, "controllers", "embedding-model", "controller.ts")).map(
    (file) => path.relative(root, file).split(path.sep).join("/"),
  );
  expect(reached).toContain("controllers/embedding-model/reconcile.ts");
  expect(reached).toContain("store/index.ts");
  expect(reached.filter((file) => file.startsWith("operator/runtime/"))).toEqual([]);
});

it("refuses a cache it cannot follow: handed on, aliased or renamed", () => {
  expect(untracedCacheUses("const view = context.cache;\nview.get(resourceTypes.service, key);")).toEqual([
    "cache;",
  ]);
  expect(untracedCacheUses("helper(context.cache, key);")).toEqual(["cache,"]);
  expect(untracedCacheUses("const { cache: view } = context;")).toEqual(["cache: view"]);
  expect(
    untracedCacheUses(
      "context.cache.get(resourceTypes.pod, key);\ncontext.cache\n  .list<KubeObject>(resourceTypes.pod);\nconst { cache } = context;\ncache.get(resourceTypes.pod, key);",
    ),
  ).toEqual([]);
});

it.each(Object.keys(controllerFactories))(
  "the %s controller declares every type its code reads from the cache",
  (name) => {
    const definition = controllerFactories[name]!({
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      concurrency: 1,
    });
    const declared = readTypesOf(definition).map(resourceName);
    expect(declared).toEqual(declaredReads[name]);
    const undeclared = [...typesRead(name, definition)].filter(([resource]) => !declared.includes(resource));
    expect(undeclared).toEqual([]);
    void definition.close?.();
  },
);
