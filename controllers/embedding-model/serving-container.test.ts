import { describe, expect, it } from "vitest";
import { servingProbes } from "./serving-container.ts";

describe("servingProbes", () => {
  for (const tls of [false, true]) {
    it(`asks the startup probe every second and still allows 10 minutes to load (tls ${tls})`, () => {
      const { startupProbe, readinessProbe } = servingProbes(tls);
      // A pod serving after 3 s must not wait for a 5 s period to be seen started (then Ready).
      expect(startupProbe.periodSeconds).toBe(1);
      expect(startupProbe.periodSeconds! * startupProbe.failureThreshold!).toBe(600);
      // Started and Ready ask the server's own health: never Ready before it serves.
      expect(tls ? startupProbe.httpGet?.path : startupProbe.grpc?.port).toBe(
        tls ? readinessProbe.httpGet?.path : readinessProbe.grpc?.port,
      );
    });
  }
});
