import { describe, expect, it } from "vitest";
import { guardRequest } from "./request-guard.ts";

const json = "application/json";

describe("guardRequest", () => {
  it("serves pages only to loopback host names on its own port (no DNS rebinding)", () => {
    expect(guardRequest("GET", { host: "127.0.0.1:3100" }, 3100)).toBeUndefined();
    expect(guardRequest("GET", { host: "localhost:3100" }, 3100)).toBeUndefined();
    expect(guardRequest("GET", { host: "evil.example:3100" }, 3100)?.status).toBe(421);
    expect(guardRequest("GET", { host: "127.0.0.1:3101" }, 3100)?.status).toBe(421);
    expect(guardRequest("GET", {}, 3100)?.status).toBe(421);
  });

  it("accepts same-origin JSON actions", () => {
    const headers = { host: "127.0.0.1:3100", origin: "http://127.0.0.1:3100", "content-type": json };
    expect(guardRequest("POST", headers, 3100)).toBeUndefined();
  });

  it("refuses cross-origin actions, non-JSON actions and other methods", () => {
    expect(
      guardRequest(
        "POST",
        { host: "127.0.0.1:3100", origin: "https://evil.example", "content-type": json },
        3100,
      ),
    ).toEqual({ status: 403, message: "cross-origin requests may not change anything" });
    expect(
      guardRequest(
        "POST",
        { host: "127.0.0.1:3100", "content-type": "application/x-www-form-urlencoded" },
        3100,
      )?.status,
    ).toBe(415);
    expect(guardRequest("DELETE", { host: "127.0.0.1:3100" }, 3100)?.status).toBe(405);
  });
});
