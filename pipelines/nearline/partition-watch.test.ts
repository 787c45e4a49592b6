import { createServer, type AddressInfo } from "node:net";
import { Consumer } from "@platformatic/kafka";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import { isKafkaOutage, kafkaClientOptions } from "../shared/kafka.ts";
import { createPipelineMetrics } from "../shared/metrics.ts";
import { addedWhileAway, PartitionWatch } from "./partition-watch.ts";

describe("partitions added while no worker ran (startOffset latest)", () => {
  it("are the uncommitted partitions above the highest committed one", () => {
    // Partitions 3 and 4 were added after the group committed 0-2.
    expect(addedWhileAway([5n, 0n, 7n, -1n, -1n], 5)).toEqual([3, 4]);
    // Absent from the answer is uncommitted too.
    expect(addedWhileAway([5n], 3)).toEqual([1, 2]);
  });

  it("leave out an uncommitted partition below a committed one: it was there when the version started", () => {
    // A quiet partition of a busy version with no bootstrap: its history is older than the start.
    expect(addedWhileAway([5n, -1n, 7n], 3)).toEqual([]);
    expect(addedWhileAway([5n, -1n, 7n, -1n], 4)).toEqual([3]);
  });

  it("are none at a version's first start (nothing committed) or when every partition is committed", () => {
    expect(addedWhileAway([-1n, -1n], 2)).toEqual([]);
    expect(addedWhileAway([], 2)).toEqual([]);
    expect(addedWhileAway([0n, 0n, 3n], 3)).toEqual([]);
  });
});

describe("the start's check for partitions added while no worker ran", () => {
  /** A port on this host where nothing listens: brokers that are down. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it("fails on brokers that are down, so that the join waits for them instead of going on unchecked", async () => {
    // Swallowed, a version's first start under `latest` then joined without committing its start
    // (#commitFirstStart) when the brokers came back between this check and the join.
    const clientOptions = {
      ...kafkaClientOptions(
        { bootstrapServers: [`127.0.0.1:${await closedPort()}`] },
        "partition-watch-test",
      ),
      retries: 1,
      retryDelay: 10,
    };
    const consumer = new Consumer({ ...clientOptions, groupId: "partition-watch-test" });
    const watch = new PartitionWatch({
      topic: "jobs",
      startOffset: "latest",
      logger: silentLogger(),
      metrics: createPipelineMetrics(new Registry()),
      labels: { pipeline: "recs/jobs", version: "v1" },
    });
    try {
      const checked = watch.startAddedWhileAway(consumer, clientOptions, "partition-watch-test");
      await expect(checked).rejects.toSatisfy(isKafkaOutage);
    } finally {
      await consumer.close(true).catch(() => undefined);
    }
  });
});
