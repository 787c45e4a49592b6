import { describe, expect, it } from "vitest";
import { keepStampsOfMissingSecrets } from "./secret-wiring.ts";

describe("keepStampsOfMissingSecrets", () => {
  it("keeps the running stamp of a Secret deleted under running pods, so they do not roll", () => {
    // Was: `tls-v1@absent` replaced the running digest and an older version's pods rolled into a pod
    // that could not start (its Secret volume gone).
    expect(keepStampsOfMissingSecrets("tls-v1@absent", "tls-v1@sha256:0123456789abcdef")).toBe(
      "tls-v1@sha256:0123456789abcdef",
    );
  });

  it("changes only the missing Secrets' entries, and keeps a change of another Secret", () => {
    expect(
      keepStampsOfMissingSecrets("a@sha256:new,b@absent", "a@sha256:old,b@sha256:0123456789abcdef"),
    ).toBe("a@sha256:new,b@sha256:0123456789abcdef");
  });

  it("stamps absent a Secret missing from the start or with nothing running", () => {
    expect(keepStampsOfMissingSecrets("tls@absent", undefined)).toBe("tls@absent");
    expect(keepStampsOfMissingSecrets("tls@absent", "other@sha256:0123456789abcdef")).toBe("tls@absent");
    expect(keepStampsOfMissingSecrets("tls@absent", "tls@absent")).toBe("tls@absent");
  });

  it("leaves a stamp without a missing Secret as it is", () => {
    expect(keepStampsOfMissingSecrets("tls@sha256:new", "tls@sha256:old")).toBe("tls@sha256:new");
  });
});
