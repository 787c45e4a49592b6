/**
 * An EmbedStream open when the drain starts is told to finish at once: the requests it has in flight
 * are answered, then the server ends it with UNAVAILABLE DRAINING (retryable), so its client opens a
 * new stream, through the Service to a replica that serves, and resends what was not answered. Before,
 * an idle stream (or one whose client sends nothing more) stayed open for the whole drain, its client
 * waiting until the server cut it when the drain ended (a drain of up to 25 s, while other calls run).
 * The order of events shows it: each stream ends before the long call in flight beside it is answered.
 */
import { status, type ClientDuplexStream, type Metadata } from "@grpc/grpc-js";
import { expect, it } from "vitest";
import { longDrainText, metricValue, useDrainedServe } from "./helpers.ts";

const LONG_INPUTS = 16;

const { serve, connect } = useDrainedServe();

it("ends the streams open at the drain's start with UNAVAILABLE DRAINING after their answers, before the drain ends", async () => {
  const events: string[] = [];
  const ended = (name: string, stream: ClientDuplexStream<unknown, unknown>) =>
    new Promise<void>((resolve) => {
      // Only how it ended first: grpc-js also ends the readable side after an error.
      stream.once("error", (error: Error & { code: number; metadata: Metadata }) => {
        events.push(`${name}: ${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`);
        resolve();
      });
      stream.once("end", () => setImmediate(resolve));
    });
  const jude = connect("embedding").EmbedStream!() as ClientDuplexStream<unknown, unknown>;
  const tei = connect("teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, unknown>;
  const answered = (name: string, stream: ClientDuplexStream<unknown, unknown>) =>
    new Promise<void>((resolve) =>
      stream.once("data", (message: { error?: unknown }) => {
        events.push(`${name}: answered${message.error === undefined ? "" : " with an error"}`);
        resolve();
      }),
    );
  const judeEnded = ended("jude stream", jude);
  const teiEnded = ended("tei stream", tei);
  // Both streams work, then go quiet (a pipeline between batches of records).
  const firstAnswers = Promise.all([answered("jude stream", jude), answered("tei stream", tei)]);
  jude.write({ requestId: "1", inputs: [{ text: "before the drain" }] });
  tei.write({ inputs: "before the drain" });
  await firstAnswers;

  // A request in flight on the jude stream (admitted first, so answered first), and a long unary call
  // beside it: the drain lasts until that is answered.
  const inFlightAnswer = answered("jude stream", jude);
  jude.write({ requestId: "2", inputs: [{ text: longDrainText }], truncate: true });
  const long = new Promise<void>((resolve) =>
    connect("embedding").Embed!(
      { inputs: Array.from({ length: LONG_INPUTS }, () => ({ text: longDrainText })), truncate: true },
      (error: Error | null) => {
        events.push(`long call: ${error === null ? "OK" : error.message}`);
        resolve();
      },
    ),
  );
  const url = `http://127.0.0.1:${serve().httpPort}/metrics`;
  // 17 inputs in flight, or 16 if the stream's request was answered already.
  while ((metricValue(await (await fetch(url)).text(), "jude_serving_in_flight") ?? 0) < LONG_INPUTS);
  serve().child.kill("SIGTERM");
  await Promise.all([judeEnded, teiEnded, long, inFlightAnswer]);
  expect(await serve().exited).toBe(0);
  expect(events.slice(2).toSorted()).toEqual(
    [
      "jude stream: answered",
      "jude stream: UNAVAILABLE JUDE_SERVING_DRAINING",
      "tei stream: UNAVAILABLE JUDE_SERVING_DRAINING",
      "long call: OK",
    ].toSorted(),
  );
  expect(events.at(-1)).toBe("long call: OK");
  expect(events.indexOf("jude stream: answered", 2)).toBeLessThan(
    events.indexOf("jude stream: UNAVAILABLE JUDE_SERVING_DRAINING"),
  );
});
