import { describe, expect, it } from "vitest";
import { createRootLogger } from "./logger.ts";

describe("createRootLogger", () => {
  it("takes the level from JUDE_LOG_LEVEL unless one is given", () => {
    expect(createRootLogger({ component: "t", env: { JUDE_LOG_LEVEL: "warn" } }).level).toBe("warn");
    expect(createRootLogger({ component: "t", env: {} }).level).toBe("info");
    expect(createRootLogger({ component: "t", level: "debug", env: { JUDE_LOG_LEVEL: "warn" } }).level).toBe(
      "debug",
    );
  });

  it("binds the component and extra bindings to every line", () => {
    const logger = createRootLogger({ component: "nearline", env: {}, bindings: { version: "v2" } });
    expect(logger.bindings()).toMatchObject({ component: "nearline", version: "v2" });
  });

  it("refuses an unknown level with the accepted list", () => {
    expect(() => createRootLogger({ component: "t", env: { JUDE_LOG_LEVEL: "loud" } })).toThrow(
      /"loud" is not one of trace, debug, info/,
    );
  });
});
