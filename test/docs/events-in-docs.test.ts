// The README's catalogue of Event reasons (section "Events") against the code that records Events:
// every reason the operator can emit is in the table, every row is a reason the code emits, and each
// row names the objects that record its reasons (the controller whose folder records them). Reasons
// are read from the recording calls (`context.events.normal|warning(object, reason, …)`, and the
// `{ warning, reason, message }` objects a reconcile hands to them); a reason the call computes is
// expanded through `computedReasons` below, which names the set it is drawn from.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { versionPhase } from "../../crds/embedding-model-status.ts";
import { missingReferenceReasons } from "../../controllers/embedding-model/blockers.ts";
import { lossEventReasons } from "../../controllers/nearline-pipeline/record-losses.ts";
import { readDocument, repoRoot } from "./markdown.ts";

/** A row standing for whatever reason the object's Stalled condition has (see Troubleshooting). */
const stalledReason = "<Stalled reason>";

/**
 * Reasons a recording call computes, by file and the call's reason expression (whitespace collapsed):
 * the set each is drawn from. A new computed reason fails the test until it is listed here.
 */
const computedReasons: Record<string, readonly string[]> = {
  // A version's phase changed (the EmbeddingModel's status.versions[].phase).
  "controllers/embedding-model/promotion-status.ts: phase": versionPhase.options,
  // The verdict turned Ready or Stalled; a candidate waits for a missing reference; the store was
  // lost or changed.
  'controllers/embedding-model/promotion-status.ts: verdict.state === "Ready" ? "Ready" : verdict.reason': [
    "Ready",
    stalledReason,
  ],
  "controllers/embedding-model/promotion-status.ts: verdict.reason": [
    ...missingReferenceReasons,
    "StoreDataLost",
    "StoreChanged",
  ],
  // An older version's pods reference a missing Secret, key or claim.
  "controllers/embedding-model/older-version-references.ts: problem.reason": [...missingReferenceReasons],
  // The Secrets an older version's workers read (its TLS and token Secrets: older-version-secrets.ts)
  // are missing or lack a key; workers mount no claim and read no model URL.
  "controllers/nearline-pipeline/reconcile.ts: event.reason": ["SecretNotFound", "SecretKeyNotFound"],
  // A version's workers lost source records to retention, or replayed after the store lost writes.
  "controllers/nearline-pipeline/reconcile.ts: loss.reason": lossEventReasons,
  // The store URL's Secret or key is missing (model-store.ts StoreSecretMissing).
  "controllers/embedding-model/reconcile.ts: missing.reason": ["SecretNotFound", "SecretKeyNotFound"],
  // The promotion's Events, listed from promotion-status.ts and older-version-references.ts above.
  "controllers/embedding-model/reconcile.ts: event.reason": [],
  // A run's phase changed (Running has no Event of its own).
  'controllers/bootstrap-run/reconcile.ts: decision.status.phase ?? "Pending"': [
    "Pending",
    "Succeeded",
    "Failed",
    "Suspended",
  ],
  "controllers/bootstrap-run/reconcile.ts: standing.reason": [stalledReason],
  // A pipeline's verdict turned Ready (pipeline-standing.ts) or Stalled.
  "controllers/nearline-pipeline/reconcile.ts: verdict.reason": ["WorkersReady", stalledReason],
};

/** The operator's source files (tests excluded). */
function sourceFiles(folder: string): string[] {
  return readdirSync(join(repoRoot, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .map((file) => join(folder, file));
}

/** `export const name = "Literal"` across the sources, to read reasons recorded through a constant. */
function exportedStrings(files: readonly string[]): Map<string, string> {
  const constants = new Map<string, string>();
  for (const file of files)
    for (const match of readFileSync(join(repoRoot, file), "utf8").matchAll(
      /export const (\w+) = "([A-Za-z]+)";/g,
    ))
      constants.set(match[1]!, match[2]!);
  return constants;
}

/** The reason expression of each recording call and Event object, by file. */
function reasonExpressions(files: readonly string[]): Array<{ file: string; expression: string }> {
  return files.flatMap((file) =>
    reasonExpressionsIn(readFileSync(join(repoRoot, file), "utf8")).map((expression) => ({
      file,
      expression,
    })),
  );
}

/** A recorder method: `events.normal` or `events.warning` (on `context.events` or an `events` alias). */
const recorderMethods = new Set(["normal", "warning"]);

/**
 * The reason expressions of one source text, read from its syntax tree: a recorder method's call
 * (`context.events.warning(object, reason, message)`, `.call(context.events, object, reason, message)`)
 * and an object literal with `warning` and `reason` keys in any order (a PromotionEvent handed to the
 * recorder). A recorder method used otherwise (kept in a variable and called as it is, passed on) is
 * not read: it yields an `<unread: …>` expression, which no computed set lists, so the test fails.
 */
function reasonExpressionsIn(source: string): string[] {
  const file = ts.createSourceFile("source.ts", source, ts.ScriptTarget.Latest, true);
  const text = (node: ts.Node) => node.getText(file).replace(/\s+/g, " ").trim();
  const isRecorder = (node: ts.Node) => /(^|\.)events$/.test(text(node));
  const argument = (node: ts.CallExpression, index: number) =>
    node.arguments[index] !== undefined ? text(node.arguments[index]) : `<unread: ${text(node)}>`;
  const enclosing = (node: ts.Node): ts.Node => {
    let at = node.parent;
    while (!ts.isFunctionLike(at) && !ts.isSourceFile(at)) at = at.parent;
    return at;
  };
  const found: string[] = [];
  // Functions that call a recorder method with `.call(context.events, …)`, and the method references
  // outside a direct call (read at that `.call`).
  const callingRecorder = new Set<ts.Node>();
  const references: ts.PropertyAccessExpression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const { name, expression } = node.expression;
      if (recorderMethods.has(name.text) && isRecorder(expression)) found.push(argument(node, 1));
      else if (name.text === "call" && node.arguments[0] !== undefined && isRecorder(node.arguments[0])) {
        found.push(argument(node, 2));
        callingRecorder.add(enclosing(node));
      }
    }
    if (
      ts.isPropertyAccessExpression(node) &&
      recorderMethods.has(node.name.text) &&
      isRecorder(node.expression) &&
      !(ts.isCallExpression(node.parent) && node.parent.expression === node)
    )
      references.push(node);
    if (ts.isObjectLiteralExpression(node)) {
      const keys = new Map(
        node.properties.flatMap((property) =>
          property.name !== undefined && ts.isIdentifier(property.name)
            ? [[property.name.text, property] as const]
            : [],
        ),
      );
      const reason = keys.get("reason");
      if (keys.has("warning") && reason !== undefined)
        found.push(
          ts.isPropertyAssignment(reason)
            ? text(reason.initializer)
            : ts.isShorthandPropertyAssignment(reason)
              ? reason.name.text
              : `<unread: ${text(reason)}>`,
        );
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  for (const reference of references)
    if (!callingRecorder.has(enclosing(reference))) found.push(`<unread: ${text(reference.parent)}>`);
  return found;
}

/** The rows of the README's Events table: their reasons (first column, each in backticks) and objects. */
function documentedRows(): Array<{ reasons: string[]; objects: string[] }> {
  const text = readDocument("README.md");
  const section = /^## Events\n([\s\S]*?)^## /m.exec(text)?.[1] ?? "";
  return section
    .split("\n")
    .filter((line) => line.startsWith("| ") && !/^\|\s*-/.test(line) && !line.startsWith("| Reason"))
    .map((line) => {
      const cells = line.split("|");
      return {
        reasons: [...cells[1]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!),
        objects: cells[2]!.split(",").map((object) => object.trim()),
      };
    });
}

/** The reasons of the README's Events table. */
function documentedReasons(): string[] {
  return documentedRows().flatMap((row) => row.reasons);
}

/** The reasons one recording call or Event object can have; undefined when the test cannot tell. */
function reasonsOf(
  file: string,
  expression: string,
  constants: ReadonlyMap<string, string>,
): readonly string[] | undefined {
  const literal = /^"([A-Za-z]+)"$/.exec(expression)?.[1] ?? constants.get(expression);
  if (literal !== undefined) return [literal];
  // One of two literals (`cond ? "RolledBack" : "Promoted"`).
  const either = /^[^?]+\? "([A-Za-z]+)" : "([A-Za-z]+)"$/.exec(expression);
  if (either !== null) return [either[1]!, either[2]!];
  return computedReasons[`${file}: ${expression}`];
}

/** The objects whose controller records a file's Events: its folder's resource, or all for shared code. */
const objectsByFolder: Record<string, readonly string[]> = {
  "controllers/embedding-model/": ["EmbeddingModel"],
  "controllers/nearline-pipeline/": ["NearlinePipeline"],
  "controllers/bootstrap-run/": ["BootstrapRun"],
  "controllers/shared/": ["EmbeddingModel", "NearlinePipeline", "BootstrapRun"],
};

/**
 * Objects a row names for a reason that their code records only as a Stalled condition's reason (so
 * read as `<Stalled reason>` above): a BootstrapRun whose shard pods lack a Secret or key is Stalled
 * with that reason (shard-secrets.ts).
 */
const recordedWhenStalled: Record<string, readonly string[]> = {
  SecretNotFound: ["BootstrapRun"],
  SecretKeyNotFound: ["BootstrapRun"],
};

describe("the README's Event reasons", () => {
  const files = [...sourceFiles("controllers"), ...sourceFiles("operator")];
  const constants = exportedStrings(files);
  const calls = reasonExpressions(files);

  it("finds the recording calls", () => {
    // The scan itself: a refactor that renames the recorder must not leave the test comparing nothing.
    expect(calls.length).toBeGreaterThan(10);
  });

  // How a recording call is written must not decide whether the test sees its reason: one it cannot
  // read would leave that reason out of the comparison and the test passing with it undocumented.
  it("reads the reason of a recording call however it is written", () => {
    const source = `
      context.events.warning(model!, "AfterNonNull", message);
      context.events.normal(objectOf(run, 1), "AfterCall", message);
      events.push({ reason: "ReasonFirst", warning: true, message });
      events.push({ message: \`a \${b}\`, warning: false, reason: "MessageFirst" });
      const record = failed ? context.events.warning : context.events.normal;
      record.call(context.events, raw as KubeObject, "CallAfterCast", message);
      // a comment: context.events.warning(model, "Commented", message)
      function aliased() {
        const emit = context.events.warning;
        emit(model, "Aliased", message);
      }
    `;
    expect(reasonExpressionsIn(source).sort()).toEqual(
      [
        '"AfterCall"',
        '"AfterNonNull"',
        '"CallAfterCast"',
        '"MessageFirst"',
        '"ReasonFirst"',
        "<unread: emit = context.events.warning>",
      ].sort(),
    );
  });

  it("lists every reason the code emits, and only those", () => {
    const emitted = new Set<string>();
    const unlisted: string[] = [];
    const used = new Set<string>();
    for (const { file, expression } of calls) {
      const key = `${file}: ${expression}`;
      const reasons = reasonsOf(file, expression, constants);
      if (reasons === undefined) unlisted.push(key);
      else for (const reason of reasons) emitted.add(reason);
      if (reasons !== undefined && reasons === computedReasons[key]) used.add(key);
    }
    expect(unlisted, "computed reasons not in computedReasons").toEqual([]);
    expect(
      Object.keys(computedReasons).filter((key) => !used.has(key)),
      "computedReasons entries no call uses",
    ).toEqual([]);
    const documented = documentedReasons();
    expect(documented.length, "README section '## Events' has a table").toBeGreaterThan(0);
    expect(new Set(documented).size, "each reason has one row").toBe(documented.length);
    expect([...new Set(documented)].sort()).toEqual([...emitted].sort());
  });

  // The Object column tells a user where to look (`kubectl describe` of which object): a reason listed
  // on an object that never records it sends them to an object that will never show it.
  it("names on each row the objects that record its reasons, and only those", () => {
    const recorders = new Map<string, Set<string>>();
    for (const { file, expression } of calls) {
      const folder = Object.keys(objectsByFolder).find((prefix) => file.startsWith(prefix));
      expect(folder, `${file}: the object its Events are on`).toBeDefined();
      for (const reason of reasonsOf(file, expression, constants) ?? [])
        for (const object of objectsByFolder[folder!]!)
          recorders.set(reason, (recorders.get(reason) ?? new Set()).add(object));
    }
    const mismatches = documentedRows().flatMap(({ reasons, objects }) =>
      reasons.flatMap((reason) => {
        const recorded = [...(recorders.get(reason) ?? []), ...(recordedWhenStalled[reason] ?? [])];
        return [...new Set(recorded)].sort().join(", ") === [...objects].sort().join(", ")
          ? []
          : [`${reason}: README ${objects.join(", ")}; code ${[...new Set(recorded)].join(", ")}`];
      }),
    );
    expect(mismatches).toEqual([]);
  });
});
