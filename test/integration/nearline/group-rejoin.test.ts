/**
 * A worker whose Kafka client's group rejoin fails. After a heartbeat answered with a rebalance error
 * the client rejoins the group, and when that rejoin fails (the client closed under it, as a worker's
 * stop does while the group rebalances; or its retries used up against a coordinator that does not
 * answer) it emits 'error' on the consumer, the one 'error' it emits there. With no listener that
 * emit was an uncaught exception: a worker stopped during a rebalance crashed on its way out, and one
 * whose rejoin failed while running crashed mid-batch (in the tests: an error outside any test that
 * failed the run although every test passed). Now a stopping worker only notes it, and a running one
 * reopens its stream, which joins the group again. Real Kafka (a crashed static member held in the
 * group by a process of its own), the testbed's Redis, the test embedding server.
 */
import { spawn } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { Consumer, MultipleErrors, ProtocolError } from "@platformatic/kafka";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { bootstrapBrokers, committedOffsets, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { jobEvent, startJobWorker, type InProcessWorker } from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "rejoin-v1";
let embedding: TestEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
});

afterAll(async () => {
  await embedding?.server.close();
});

const events = (from: number, count: number) =>
  Array.from({ length: count }, (_, offset) =>
    jobEvent(`j${from + offset}`, 1000 + from + offset, { title: `Engineer ${from + offset}`, skills: [] }),
  );

/**
 * Starts a worker on a new topic, has it commit 3 events, and returns it with its Kafka consumer (the
 * one of its group that follows its joins, found through the client's channel of new instances).
 */
async function startCommittedWorker(
  prefix: string,
): Promise<{ worker: InProcessWorker; consumer: Consumer; topic: string; group: string }> {
  const created: Consumer[] = [];
  const onInstance = (message: unknown) => {
    const { instance } = message as { instance?: unknown };
    if (instance instanceof Consumer) created.push(instance);
  };
  subscribe("plt:kafka:instances", onInstance);
  const topic = uniqueTopic(prefix);
  let worker: InProcessWorker;
  try {
    worker = await startJobWorker(embedding, { topic });
  } finally {
    unsubscribe("plt:kafka:instances", onInstance);
  }
  const group = worker.config.source.kafka.consumerGroup;
  try {
    await produceEvents(topic, events(0, 3));
    await waitFor("the first events committed", async () => (await committedOffsets(group, topic)) === 3, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const consumer = created.find(
      (candidate) => candidate.groupId === group && candidate.listenerCount("consumer:group:join") > 0,
    );
    if (consumer === undefined) throw new Error("the worker's consumer was not seen");
    return { worker, consumer, topic, group };
  } catch (error) {
    await worker.stop();
    throw error;
  }
}

it("stops without an uncaught error while the group rebalances", async () => {
  const { worker, consumer, topic, group } = await startCommittedWorker("nl-rejoin-stop");
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", onUncaught);
  // A member that crashed: in the group (static, a 60 s session) but answering nothing, so the
  // rebalance below waits for it and the worker's rejoin is still in flight when it stops.
  const crashed = spawn(process.execPath, [
    "test/support/kafka-static-member.ts",
    group,
    topic,
    bootstrapBrokers().join(","),
    "crashed-0",
  ]);
  crashed.on("error", () => undefined);
  let said = "";
  crashed.stdout.on("data", (chunk: Buffer) => (said += chunk.toString()));
  const joiner = new Consumer({
    clientId: "jude-test-rejoin-joiner",
    groupId: group,
    bootstrapBrokers: bootstrapBrokers(),
    autocommit: false,
  });
  joiner.on("error", () => undefined);
  let stopped = false;
  try {
    await waitFor("the crashed member joined", async () => said.includes("joined"), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    crashed.kill("SIGKILL");
    // The worker's next heartbeat learns of the rebalance a new member starts, and it rejoins.
    const rebalancing = new Promise<void>((resolve) =>
      consumer.once("consumer:group:rebalance", () => resolve()),
    );
    const joined = joiner.consume({ topics: [topic], autocommit: false }).then(
      (stream) => stream.close(),
      () => undefined,
    );
    await rebalancing;
    await worker.stop();
    stopped = true;
    // The client's emit comes from its own callbacks, after the close.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await joiner.close(true).catch(() => undefined);
    await joined;
    expect(uncaught).toEqual([]);
  } finally {
    process.off("uncaughtException", onUncaught);
    crashed.kill("SIGKILL");
    await joiner.close(true).catch(() => undefined);
    if (!stopped) await worker.stop();
  }
});

it("rejoins its group and goes on consuming when its client reports a failed rejoin", async () => {
  const { worker, consumer, topic, group } = await startCommittedWorker("nl-rejoin-run");
  try {
    const rejoined = new Promise<void>((resolve) => consumer.once("consumer:group:join", () => resolve()));
    // What the client emits when the rejoin after a heartbeat's REBALANCE_IN_PROGRESS failed 4 times.
    const rebalancing = new ProtocolError("REBALANCE_IN_PROGRESS");
    consumer.emit("error", new MultipleErrors("joinGroup failed 4 times.", Array(4).fill(rebalancing)));
    await rejoined;
    await produceEvents(topic, events(3, 2));
    await waitFor(
      "the events after the rejoin committed",
      async () => (await committedOffsets(group, topic)) === 5,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(worker.app.worker.failure).toBeUndefined();
    expect(worker.app.worker.totals).toMatchObject({ consumed: 5, embedded: 5 });
  } finally {
    await worker.stop();
  }
});
