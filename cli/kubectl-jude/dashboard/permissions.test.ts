import { describe, expect, it } from "vitest";
import { ActionPermissions } from "./permissions.ts";

/**
 * Permissions whose reviews answer from `answers` (by `namespace/name` for a model asked by name, else
 * as its namespace: a Role that names no model grants all or none) and are counted; a clock the test
 * moves.
 */
function setup(answers: Record<string, boolean | undefined | Error>, allNamespaces = false) {
  const asked: string[] = [];
  let clock = 0;
  const permissions = new ActionPermissions({
    user: "viewer",
    allNamespaces,
    ttlMs: 30_000,
    now: () => clock,
    mayPatch: async (namespace, name) => {
      const key = name === undefined ? namespace : `${namespace}/${name}`;
      asked.push(key);
      const answer = key in answers ? answers[key] : answers[namespace];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  return { permissions, asked, advance: (ms: number) => (clock += ms) };
}

const model = (namespace: string, name = "minilm") => ({ namespace, name });
const recsDenied =
  "access denied: viewer may not patch embeddingmodels.jude.dev in namespace recs (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)";

describe("ActionPermissions", () => {
  it("names the missing permission and the role that grants it where the review says no", async () => {
    const { permissions } = setup({ recs: false, team: true });
    expect(await permissions.refresh([model("recs"), model("team")])).toBe(true);
    expect(permissions.denied("recs", "minilm")).toBe(recsDenied);
    expect(permissions.denied("team", "minilm")).toBeUndefined();
  });

  it("asks each model by name where the namespace says no: a Role may name the models it grants", async () => {
    const { permissions, asked } = setup({ recs: false, "recs/minilm": true, team: true });
    await permissions.refresh([
      model("recs", "minilm"),
      model("recs", "other"),
      model("team", "a"),
      model("team", "b"),
    ]);
    expect(permissions.denied("recs", "minilm")).toBeUndefined();
    expect(permissions.denied("recs", "other")).toBe(recsDenied);
    // A namespace whose models may all be changed is one question, whatever its number of models.
    expect(asked.sort()).toEqual(["recs", "recs/minilm", "recs/other", "team"]);
    expect(permissions.unknown("recs", "new")).toBe(true);
    expect(permissions.unknown("team", "new")).toBe(false);
  });

  it("leaves the actions enabled when the review itself is refused or fails, or was not asked", async () => {
    const { permissions } = setup({ refused: undefined, failed: new Error("fetch failed") });
    await permissions.refresh([model("refused"), model("failed")]);
    expect(permissions.denied("refused", "minilm")).toBeUndefined();
    expect(permissions.denied("failed", "minilm")).toBeUndefined();
    expect(permissions.denied("never-asked", "minilm")).toBeUndefined();
    expect(permissions.unknown("never-asked", "minilm")).toBe(true);
  });

  it("asks once per namespace while the answer is fresh, and again on a refresh once it is old", async () => {
    const answers: Record<string, boolean> = { recs: false };
    const { permissions, asked, advance } = setup(answers);
    await Promise.all([
      permissions.refresh([model("recs"), model("recs")]),
      permissions.refresh([model("recs")]),
    ]);
    advance(29_999);
    expect(await permissions.refresh([model("recs")])).toBe(false);
    expect(asked).toEqual(["recs", "recs/minilm"]);
    // A Role granted meanwhile: the next page load after the TTL enables the buttons.
    answers.recs = true;
    advance(1);
    expect(await permissions.refresh([model("recs")], true)).toBe(false);
    expect(asked).toEqual(["recs", "recs/minilm"]);
    expect(await permissions.refresh([model("recs")])).toBe(true);
    expect(asked).toEqual(["recs", "recs/minilm", "recs"]);
    expect(permissions.denied("recs", "minilm")).toBeUndefined();
  });

  it("with all namespaces, asks about all of them at once first: one question for a user allowed everywhere", async () => {
    const { permissions, asked } = setup({ "": true }, true);
    const models = Array.from({ length: 50 }, (_, index) => model(`team-${index}`));
    await permissions.refresh(models);
    expect(asked).toEqual([""]);
    expect(models.every((each) => permissions.denied(each.namespace, each.name) === undefined)).toBe(true);
    expect(permissions.unknown("team-99", "minilm")).toBe(false);
  });

  it("with all namespaces, a user not allowed everywhere is asked per namespace, and where it says no", async () => {
    const { permissions, asked } = setup({ "": false, recs: false, team: true }, true);
    await permissions.refresh([model("recs"), model("team")]);
    expect(asked.sort()).toEqual(["", "recs", "recs/minilm", "team"]);
    expect(permissions.denied("recs", "minilm")).toBe(recsDenied);
    expect(permissions.denied("team", "minilm")).toBeUndefined();
  });

  it("has at most 4 reviews in flight, however many namespaces the page shows", async () => {
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const permissions = new ActionPermissions({
      user: "viewer",
      mayPatch: async (namespace) => {
        asked.push(namespace);
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return true;
      },
    });
    await permissions.refresh(Array.from({ length: 40 }, (_, index) => model(`team-${index}`)));
    expect(asked).toHaveLength(40);
    expect(most).toBe(4);
  });

  it("asks again at once about a namespace it forgot (an action there came back 403), whatever the answers' age", async () => {
    const answers: Record<string, boolean> = { recs: true, team: true };
    const { permissions, asked } = setup(answers);
    await permissions.refresh([model("recs"), model("team")]);
    answers.recs = false;
    permissions.forget("recs");
    expect(await permissions.refresh([model("recs"), model("team")])).toBe(true);
    expect(permissions.denied("recs", "minilm")).toBe(recsDenied);
    expect(asked.sort()).toEqual(["recs", "recs", "recs/minilm", "team"]);
  });
});
