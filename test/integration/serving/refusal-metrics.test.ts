/**
 * What a real server counts when it refuses calls: a body over maxMessageBytes and a call beyond its
 * permits both answer RESOURCE_EXHAUSTED (jude_serving_requests_total), but only the second is the
 * server being full (jude_serving_overloaded_total), which the chart's JudeServingOverloaded reads.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { metricValue } from "./helpers.ts";

let serve: TestEmbeddingServer;
let base: string;

beforeAll(async () => {
  serve = await startTestEmbeddingServer("refusals-v1", {
    batching: { maxConcurrentRequests: 1 },
    limits: { maxInputsPerCall: 1, maxMessageBytes: 4096 },
  });
  base = `http://127.0.0.1:${serve.server.httpPort}`;
});
afterAll(async () => {
  await serve?.server.close();
});

const embed = (input: string) =>
  fetch(`${base}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: [input], model: "refusals-v1" }),
  });

const scrape = async () => (await fetch(`${base}/metrics`)).text();

it("counts a body over the size limit as RESOURCE_EXHAUSTED but not as overload", async () => {
  const answer = await embed("x".repeat(8192));
  expect(answer.status).toBe(413);
  const metrics = await scrape();
  expect(metrics).toContain(
    'jude_serving_requests_total{transport="http",method="embeddings",code="RESOURCE_EXHAUSTED"} 1',
  );
  expect(metricValue(metrics, "jude_serving_overloaded_total")).toBe(0);
});

it("counts calls refused beyond its permits as overload", async () => {
  let refused = 0;
  // One permit: of calls sent together, those arriving while one is embedded are refused (429).
  for (let round = 0; round < 20 && refused === 0; round++) {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) => embed(`Engineer ${round} ${index} `.repeat(40))),
    );
    refused += answers.filter((answer) => answer.status === 429).length;
  }
  expect(refused).toBeGreaterThan(0);
  expect(metricValue(await scrape(), "jude_serving_overloaded_total")).toBe(refused);
});
