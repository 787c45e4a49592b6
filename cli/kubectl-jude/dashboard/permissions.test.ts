import { describe, expect, it } from "vitest";
import { ActionPermissions } from "./permissions.ts";

/** Permissions whose reviews answer from `answers` and are counted; a clock the test moves. */
function setup(answers: Record<string, boolean | undefined | Error>) {
  const asked: string[] = [];
  let clock = 0;
  const permissions = new ActionPermissions({
    user: "viewer",
    ttlMs: 30_000,
    now: () => clock,
    mayPatch: async (namespace) => {
      asked.push(namespace);
      const answer = answers[namespace];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  return { permissions, asked, advance: (ms: number) => (clock += ms) };
}

describe("ActionPermissions", () => {
  it("names the missing permission and the role that grants it where the review says no", async () => {
    const { permissions } = setup({ recs: false, team: true });
    expect(await permissions.refresh(["recs", "team"])).toBe(true);
    expect(permissions.denied("recs")).toBe(
      "access denied: viewer may not patch embeddingmodels.jude.dev in namespace recs (ask for a Role that grants it, such as Kubernetes' edit role with the chart's userRoles)",
    );
    expect(permissions.denied("team")).toBeUndefined();
  });

  it("leaves the actions enabled when the review itself is refused or fails, or was not asked", async () => {
    const { permissions } = setup({ refused: undefined, failed: new Error("fetch failed") });
    await permissions.refresh(["refused", "failed"]);
    expect(permissions.denied("refused")).toBeUndefined();
    expect(permissions.denied("failed")).toBeUndefined();
    expect(permissions.denied("never-asked")).toBeUndefined();
    expect(permissions.unknown("never-asked")).toBe(true);
  });

  it("asks once per namespace while the answer is fresh, and again on a refresh once it is old", async () => {
    const answers: Record<string, boolean> = { recs: false };
    const { permissions, asked, advance } = setup(answers);
    await Promise.all([permissions.refresh(["recs", "recs"]), permissions.refresh(["recs"])]);
    advance(29_999);
    expect(await permissions.refresh(["recs"])).toBe(false);
    expect(asked).toEqual(["recs"]);
    // A Role granted meanwhile: the next page load after the TTL enables the buttons.
    answers.recs = true;
    advance(1);
    expect(await permissions.refresh(["recs"], true)).toBe(false);
    expect(asked).toEqual(["recs"]);
    expect(await permissions.refresh(["recs"])).toBe(true);
    expect(asked).toEqual(["recs", "recs"]);
    expect(permissions.denied("recs")).toBeUndefined();
  });
});
