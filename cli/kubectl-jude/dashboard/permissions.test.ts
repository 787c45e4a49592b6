import { afterEach, describe, expect, it, vi } from "vitest";
import { ActionPermissions, recheckPeriodically } from "./permissions.ts";

/**
 * Permissions whose reviews answer from `answers` (by `namespace/name` for a model asked by name, else
 * as its namespace: a Role that names no model grants all or none) and are counted; a clock the test
 * moves.
 */
function setup(
  answers: Record<string, boolean | undefined | Error | "hangs" | "hangs, not abortable">,
  allNamespaces = false,
  now?: () => number,
) {
  const asked: string[] = [];
  // Reviews taken and not yet answered or aborted (HTTP requests still open).
  let open = 0;
  let clock = 0;
  const permissions = new ActionPermissions({
    user: "viewer",
    allNamespaces,
    ttlMs: 30_000,
    reviewTimeoutMs: 10_000,
    now: now ?? (() => clock),
    mayPatch: async (namespace, name, signal) => {
      const key = name === undefined ? namespace : `${namespace}/${name}`;
      asked.push(key);
      const answer = key in answers ? answers[key] : answers[namespace];
      if (answer instanceof Error) throw answer;
      // An API server that never answers the review: its request is open until aborted.
      if (answer === "hangs")
        return new Promise<never>((_resolve, reject) => {
          open++;
          signal?.addEventListener("abort", () => {
            open--;
            reject(signal.reason as Error);
          });
        });
      // A client that does not close the request when asked to.
      if (answer === "hangs, not abortable") {
        open++;
        return new Promise<never>(() => {});
      }
      return answer;
    },
  });
  return { permissions, asked, open: () => open, advance: (ms: number) => (clock += ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

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

  it("gives up on a review that does not answer: the actions stay enabled and the page is told they were not checked", async () => {
    vi.useFakeTimers();
    const { permissions, asked } = setup({ recs: "hangs", team: true, slow: "hangs" });
    const refreshed = permissions.refresh([model("recs"), model("team")]);
    await vi.advanceTimersByTimeAsync(10_000);
    await refreshed;
    expect(permissions.denied("recs", "minilm")).toBeUndefined();
    expect(permissions.unchecked("recs", "minilm")).toBe(
      "whether viewer may patch embeddingmodels.jude.dev in namespace recs could not be checked (the SelfSubjectAccessReview got no answer within 10 s): the buttons stay enabled and the API server decides",
    );
    expect(permissions.unchecked("team", "minilm")).toBeUndefined();
    // Given up, not pending for ever: answered "not known", asked again once that answer is old.
    expect(permissions.unknown("recs", "minilm")).toBe(false);
    await permissions.refresh([model("recs")], true);
    expect(asked.filter((key) => key === "recs")).toHaveLength(1);
  });

  it("says the permission is being checked until the review answers or is given up", async () => {
    vi.useFakeTimers();
    const { permissions } = setup({ recs: "hangs", team: true, ops: false, "ops/minilm": true });
    const checking = (namespace: string) => permissions.checking(namespace, "minilm");
    // Never asked: being checked as soon as the page shows the model.
    expect(checking("team")).toBe(
      "whether viewer may patch embeddingmodels.jude.dev in namespace team is being checked (the SelfSubjectAccessReview has not answered yet): the buttons are disabled until it answers, at most 10 s",
    );
    const refreshed = permissions.refresh([model("recs"), model("team"), model("ops")]);
    expect(checking("recs")).toMatch(/namespace recs is being checked/);
    await vi.advanceTimersByTimeAsync(0);
    // Answered: yes, or no for the namespace and yes for the model by name.
    expect([checking("team"), checking("ops")]).toEqual([undefined, undefined]);
    expect(checking("recs")).toMatch(/namespace recs is being checked/);
    await vi.advanceTimersByTimeAsync(10_000);
    // Given up: not checked (the buttons enabled again), no longer being checked.
    expect(await refreshed).toBe(true);
    expect(checking("recs")).toBeUndefined();
    expect(permissions.unchecked("recs", "minilm")).toMatch(/got no answer within 10 s/);
  });

  it("tells its listener each answer as it comes, not only once the whole refresh ended", async () => {
    vi.useFakeTimers();
    const { permissions, advance } = setup({ recs: "hangs", team: true });
    let told = 0;
    permissions.onAnswer(() => told++);
    let ended = false;
    const refreshed = permissions.refresh([model("recs"), model("team")]).then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(0);
    // team answered while recs hangs: the page can show team's buttons enabled now, not in 10 s.
    expect([told, ended, permissions.checking("team", "minilm")]).toEqual([1, false, undefined]);
    await vi.advanceTimersByTimeAsync(10_000);
    await refreshed;
    expect(told).toBe(2); // recs given up
    // Asked again with the same answers: nothing new to tell.
    advance(30_000);
    const again = permissions.refresh([model("recs"), model("team")]);
    await vi.advanceTimersByTimeAsync(10_000);
    await again;
    expect(told).toBe(2);
  });

  it("with all namespaces on a hung API server, is checking for 10 s, not 10 s more per namespace review", async () => {
    vi.useFakeTimers();
    const { permissions } = setup({ "": "hangs", recs: "hangs", team: "hangs" }, true);
    const refreshed = permissions.refresh([model("recs"), model("team")]);
    expect(permissions.checking("recs", "minilm")).toMatch(/at most 10 s/);
    await vi.advanceTimersByTimeAsync(10_000);
    // The question about all namespaces was given up: the buttons are enabled again, saying so, while
    // each namespace is asked in turn (was: disabled, "checking … at most 10 s", 10 s more).
    expect(permissions.checking("recs", "minilm")).toBeUndefined();
    expect(permissions.unchecked("recs", "minilm")).toMatch(
      /namespace recs could not be checked \(the SelfSubjectAccessReview got no answer within 10 s\)/,
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await refreshed;
    expect(permissions.checking("team", "minilm")).toBeUndefined();
    expect(permissions.unchecked("team", "minilm")).toMatch(/namespace team could not be checked/);
  });

  it("with all namespaces, is checking a namespace whose own review is asked after the global one failed at once", async () => {
    vi.useFakeTimers();
    const { permissions } = setup({ "": new Error("fetch failed"), recs: "hangs" }, true);
    const refreshed = permissions.refresh([model("recs")]);
    await vi.advanceTimersByTimeAsync(0);
    // Refused or failed at once is no hung API server: the namespace's own review decides.
    expect(permissions.checking("recs", "minilm")).toMatch(/namespace recs is being checked/);
    await vi.advanceTimersByTimeAsync(10_000);
    await refreshed;
    expect(permissions.checking("recs", "minilm")).toBeUndefined();
  });

  it("with all namespaces, a 403 in one namespace leaves the others' known answers shown, not checking", async () => {
    const { permissions } = setup({ "": false, recs: true, team: true }, true);
    await permissions.refresh([model("recs"), model("team")]);
    permissions.forget("recs");
    // The page is pushed at once after the 403: only recs' buttons go back to "checking permission…".
    expect(permissions.checking("recs", "minilm")).toMatch(/namespace recs is being checked/);
    expect(permissions.checking("team", "minilm")).toBeUndefined();
    await permissions.refresh([model("recs"), model("team")]);
    expect(permissions.checking("recs", "minilm")).toBeUndefined();
  });

  it("is not checking again while an answer it knows is asked again (no flicker every 30 s)", async () => {
    vi.useFakeTimers();
    const { permissions, advance } = setup({ recs: false, "recs/minilm": true, team: true });
    await permissions.refresh([model("recs"), model("team")]);
    advance(30_000);
    const again = permissions.refresh([model("recs"), model("team")]);
    expect([permissions.checking("recs", "minilm"), permissions.checking("team", "minilm")]).toEqual([
      undefined,
      undefined,
    ]);
    expect(await again).toBe(false);
  });

  it("tells a refresh that the answer came, also where it allows what the page already offered", async () => {
    const { permissions } = setup({ team: true });
    expect(await permissions.refresh([model("team")])).toBe(true);
    expect(await permissions.refresh([model("team")])).toBe(false);
  });

  it("with all namespaces, is checking until the namespace's own answer where not allowed everywhere", async () => {
    const { permissions } = setup({ "": false, recs: true }, true);
    expect(permissions.checking("recs", "minilm")).toMatch(/is being checked/);
    await permissions.refresh([model("recs")]);
    expect(permissions.checking("recs", "minilm")).toBeUndefined();
  });

  it("says the permission could not be checked when the review failed or was refused", async () => {
    const { permissions } = setup({ failed: new Error("fetch failed"), refused: undefined });
    await permissions.refresh([model("failed"), model("refused")]);
    expect(permissions.unchecked("refused", "minilm")).toBe(
      "whether viewer may patch embeddingmodels.jude.dev in namespace refused could not be checked (the SelfSubjectAccessReview was refused or failed): the buttons stay enabled and the API server decides",
    );
    expect(permissions.unchecked("failed", "minilm")).toMatch(/namespace failed could not be checked/);
  });

  it("a hung review holds no slot: the other namespaces are still asked", async () => {
    vi.useFakeTimers();
    const answers: Record<string, boolean | "hangs"> = {};
    for (let index = 0; index < 8; index++) answers[`team-${index}`] = index < 4 ? "hangs" : false;
    const { permissions } = setup(answers);
    const refreshed = permissions.refresh(Array.from({ length: 8 }, (_, index) => model(`team-${index}`)));
    await vi.advanceTimersByTimeAsync(20_000);
    await refreshed;
    expect(permissions.denied("team-7", "minilm")).toBe(recsDenied.replace("recs", "team-7"));
  });
});

describe("recheckPeriodically", () => {
  /** Rechecks recs and team every 30 s for a page that stays open; returns what stops it. */
  const recheckRecsAndTeam = (permissions: ActionPermissions) =>
    recheckPeriodically({
      permissions,
      models: () => [model("recs"), model("team")],
      wanted: () => true,
      changed: () => {},
      everyMs: 30_000,
    });

  it("shows a permission granted while a page is open within one period, without a page load", async () => {
    vi.useFakeTimers();
    const answers: Record<string, boolean> = { "": false, recs: false };
    const { permissions, asked } = setup(answers, true, () => Date.now());
    await permissions.refresh([model("recs")]);
    expect(permissions.denied("recs", "minilm")).toBe(recsDenied);
    let changes = 0;
    let pageOpen = true;
    const stop = recheckPeriodically({
      permissions,
      models: () => [model("recs")],
      wanted: () => pageOpen,
      changed: () => changes++,
      everyMs: 30_000,
    });
    answers[""] = true;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(permissions.denied("recs", "minilm")).toBeUndefined();
    expect(changes).toBe(1);
    // With -A, the cluster-wide question comes first: allowed everywhere is one question per period.
    expect(asked).toEqual(["", "recs", "recs/minilm", ""]);
    // No page open: nothing is asked.
    pageOpen = false;
    await vi.advanceTimersByTimeAsync(90_000);
    expect(asked).toHaveLength(4);
    stop();
  });

  it("closes a given-up review's request: a page left open on a hung API server adds no request per round", async () => {
    // Was: the review was given up after 10 s but its request left open, one more per namespace each
    // round for as long as the API server hung.
    vi.useFakeTimers();
    const { permissions, asked, open } = setup({ recs: "hangs", team: "hangs" }, false, () => Date.now());
    const stop = recheckRecsAndTeam(permissions);
    for (let round = 1; round <= 5; round++) {
      // Each round (every 30 s) asks each namespace once; given up after 10 s, its request is closed.
      await vi.advanceTimersByTimeAsync(round === 1 ? 30_000 : 20_000);
      expect(open()).toBe(2);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(open()).toBe(0);
      expect(permissions.unchecked("recs", "minilm")).toMatch(/got no answer within 10 s/);
    }
    expect(asked.sort()).toEqual([...Array(5).fill("recs"), ...Array(5).fill("team")]);
    stop();
  });

  it("asks no namespace again while its given-up review is still in flight (a request that could not be closed)", async () => {
    vi.useFakeTimers();
    const { permissions, asked, open } = setup({ recs: "hangs, not abortable", team: false }, false, () =>
      Date.now(),
    );
    const stop = recheckRecsAndTeam(permissions);
    await vi.advanceTimersByTimeAsync(5 * 30_000);
    expect(open()).toBe(1);
    expect(asked.filter((key) => key === "recs")).toHaveLength(1);
    // Still told as not checked, and the other namespace still asked each round.
    expect(permissions.unchecked("recs", "minilm")).toMatch(/got no answer within 10 s/);
    expect(asked.filter((key) => key === "team")).toHaveLength(5);
    stop();
  });
});
