/**
 * The store's owner record `{P}:owner` against real Redis: the first claim wins, a second claimant is
 * refused and told who owns the store, and a stale owner is replaced only by naming its uid, so two
 * claimants racing to replace it cannot both win.
 */

import { afterEach, describe, expect, it } from "vitest";
import { claimOwner, readOwner } from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets } from "./helpers.ts";

const a = { namespace: "team-a", name: "jobs-model", uid: "uid-a" };
const b = { namespace: "team-b", name: "other-model", uid: "uid-b" };
const c = { namespace: "team-c", name: "third-model", uid: "uid-c" };

describe.each(testTargets())("store owner on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  it("gives the store to the first claimant and refuses the next", async () => {
    testStore = await createTestStore(target, "owner-first");
    const { store } = testStore;
    expect(await readOwner(store)).toBeUndefined();
    expect(await claimOwner(store, a)).toMatchObject({ claimed: true, owner: a });
    expect(await claimOwner(store, a)).toMatchObject({ claimed: true, owner: a });
    const refused = await claimOwner(store, b);
    expect(refused).toMatchObject({ claimed: false, owner: a });
    expect(refused.owner.claimedAtMs).toBeGreaterThan(0);
    expect(await readOwner(store)).toMatchObject(a);
  });

  it("replaces a stale owner only when the claim names its uid, and only once", async () => {
    testStore = await createTestStore(target, "owner-stale");
    const { store } = testStore;
    await claimOwner(store, a);
    expect(await claimOwner(store, b, { replaceUid: "uid-other" })).toMatchObject({
      claimed: false,
      owner: a,
    });
    const [first, second] = await Promise.all([
      claimOwner(store, b, { replaceUid: a.uid }),
      claimOwner(store, c, { replaceUid: a.uid }),
    ]);
    expect([first.claimed, second.claimed].sort()).toEqual([false, true]);
    const winner = first.claimed ? b : c;
    expect(first.owner).toMatchObject(winner);
    expect(second.owner).toMatchObject(winner);
    expect(await readOwner(store)).toMatchObject(winner);
  });
});
