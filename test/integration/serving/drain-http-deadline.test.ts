/**
 * SIGTERM with more HTTP work in flight than the drain timeout lets finish: every request still
 * computing at the deadline is answered 503 DRAINING in its API's error shape (OpenAI's on /v1/*,
 * TEI's on /embed) with `Connection: close`, instead of having its connection cut with no answer (a
 * network error to the client, which OpenAI and TEI clients and proxies may not retry). Requests
 * answered before the deadline keep their 200, and the process exits (1: the drain timed out).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const PER_FAMILY = 6;
const INPUTS_PER_REQUEST = 16;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

let serve: ServeProcess;

beforeAll(async () => {
  // Batches of two 256-token inputs: 192 inputs take many seconds, far past a 1 s drain timeout.
  serve = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    "--max-concurrent-requests=512",
    "--drain-timeout-ms=1000",
  ]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(() => {
  if (serve?.child.exitCode === null) serve.child.kill("SIGKILL");
});

interface Outcome {
  family: "openai" | "tei";
  status?: number;
  connection?: string | null;
  body?: unknown;
  failure?: string;
}

async function post(family: Outcome["family"]): Promise<Outcome> {
  const inputs = Array.from({ length: INPUTS_PER_REQUEST }, (_, index) => `${index} ${longText}`);
  const [path, body] =
    family === "openai"
      ? ["/v1/embeddings", { model: "all-MiniLM-L6-v2", input: inputs, truncate: true }]
      : ["/embed", { inputs, truncate: true }];
  try {
    const response = await fetch(`http://127.0.0.1:${serve.httpPort}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return {
      family,
      status: response.status,
      connection: response.headers.get("connection"),
      body: await response.json(),
    };
  } catch (error) {
    return { family, failure: String((error as Error).cause ?? error) };
  }
}

it("answers every HTTP request still computing at the drain deadline with 503 DRAINING in its API's shape, then exits", async () => {
  const requests = [
    ...Array.from({ length: PER_FAMILY }, () => post("openai")),
    ...Array.from({ length: PER_FAMILY }, () => post("tei")),
  ];
  // Wait until the server has admitted every request (the gauge counts permits: one per input).
  for (;;) {
    const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
    if (metricValue(metrics, "jude_serving_in_flight") === 2 * PER_FAMILY * INPUTS_PER_REQUEST) break;
  }

  serve.child.kill("SIGTERM");
  const outcomes = await Promise.all(requests);
  expect(await serve.exited).toBe(1);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: false });

  // No request lost its answer.
  expect(outcomes.filter((outcome) => outcome.failure !== undefined)).toEqual([]);
  for (const outcome of outcomes) {
    if (outcome.status === 200) continue;
    expect(outcome.status).toBe(503);
    expect(outcome.connection).toBe("close");
    if (outcome.family === "openai") {
      expect(outcome.body).toEqual({
        error: {
          message: "the server is shutting down; retry on another replica",
          type: "server_error",
          param: null,
          code: "JUDE_SERVING_DRAINING",
        },
      });
    } else {
      expect(outcome.body).toEqual({
        error: "the server is shutting down; retry on another replica",
        error_type: "Unhealthy",
      });
    }
  }
  // The deadline did cut work short, on both APIs.
  for (const family of ["openai", "tei"] as const) {
    expect(outcomes.some((outcome) => outcome.family === family && outcome.status === 503)).toBe(true);
  }
  const answered = outcomes.filter((outcome) => outcome.status === 200);
  for (const outcome of answered) {
    const body = outcome.body as { data?: unknown[] } | unknown[];
    const vectors = Array.isArray(body) ? body : (body.data ?? []);
    expect(vectors).toHaveLength(INPUTS_PER_REQUEST);
  }
});
