/**
 * A stream whose client half-closes while the drain runs, with requests still in flight, has sent
 * all it means to send: its requests in flight are answered and the stream ends OK, as it would
 * without a drain, on jude's EmbedStream and on TEI's. TEI's ended UNAVAILABLE DRAINING after its
 * answers instead (the drain's end of the stream was queued before the client's half-close), so its
 * client, all of whose requests were answered, saw the stream fail.
 */
import { status, type ClientDuplexStream } from "@grpc/grpc-js";
import { expect, it } from "vitest";
import { longDrainText, metricValue, useDrainedServe } from "./helpers.ts";

const LONG_INPUTS = 16;

const { serve, connect } = useDrainedServe();

/** What the client of `stream` saw, in order: its answers, then how the stream ended. */
function outcome(stream: ClientDuplexStream<unknown, unknown>): Promise<string[]> {
  const seen: string[] = [];
  return new Promise((resolve) => {
    stream.on("data", (message: { error?: { code: string } }) =>
      seen.push(message.error === undefined ? "answered" : `answered ${message.error.code}`),
    );
    stream.once("error", (error: Error & { code: number }) => resolve([...seen, status[error.code]!]));
    stream.once("status", (end: { code: number }) => {
      if (end.code === status.OK) resolve([...seen, "OK"]);
    });
  });
}

it("ends a stream half-closed during the drain OK once its requests in flight are answered", async () => {
  // A long call first: the streams' requests wait behind its inputs, in flight when the drain starts.
  const long = new Promise<string>((resolve) =>
    connect("embedding").Embed!(
      { inputs: Array.from({ length: LONG_INPUTS }, () => ({ text: longDrainText })), truncate: true },
      (error: Error | null) => resolve(error === null ? "OK" : error.message),
    ),
  );
  const url = `http://127.0.0.1:${serve().httpPort}/metrics`;
  while ((metricValue(await (await fetch(url)).text(), "jude_serving_in_flight") ?? 0) < LONG_INPUTS);
  const jude = connect("embedding").EmbedStream!() as ClientDuplexStream<unknown, unknown>;
  const tei = connect("teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, unknown>;
  const judeOutcome = outcome(jude);
  const teiOutcome = outcome(tei);
  jude.write({ requestId: "1", inputs: [{ text: longDrainText }], truncate: true });
  tei.write({ inputs: longDrainText, truncate: true });
  while ((metricValue(await (await fetch(url)).text(), "jude_serving_in_flight") ?? 0) < LONG_INPUTS + 2);

  serve().child.kill("SIGTERM");
  await serve().waitForLog((line) => line.msg === "draining");
  jude.end();
  tei.end();

  expect({ jude: await judeOutcome, tei: await teiOutcome, long: await long }).toEqual({
    jude: ["answered", "OK"],
    tei: ["answered", "OK"],
    long: "OK",
  });
  expect(await serve().exited).toBe(0);
});
