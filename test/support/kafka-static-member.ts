/**
 * A consumer group member with a static id (group.instance.id), run as its own process so that a test
 * can kill it (SIGKILL): it then stays in the group, without a LeaveGroup, until its session ends, as
 * a crashed worker pod does. Prints "joined" once the group assigned it partitions.
 * Usage: node test/support/kafka-static-member.ts <group> <topic> <brokers,...> <instance id>
 */
import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes } from "@platformatic/kafka";

const [groupId, topic, brokers, instanceId] = process.argv.slice(2) as [string, string, string, string];
const consumer = new Consumer({
  clientId: "jude-test-static-member",
  groupId,
  groupInstanceId: instanceId,
  bootstrapBrokers: brokers.split(","),
  sessionTimeout: 60_000,
  rebalanceTimeout: 60_000,
  autocommit: false,
});
consumer.on("consumer:group:join", () => process.stdout.write("joined\n"));
await consumer.consume({
  topics: [topic],
  mode: MessagesStreamModes.COMMITTED,
  fallbackMode: MessagesStreamFallbackModes.LATEST,
  autocommit: false,
  maxWaitTime: 200,
});
setInterval(() => undefined, 1_000);
