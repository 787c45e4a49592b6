/**
 * The nearline worker's Kafka consumer: the client's Consumer with read_committed filtering that holds
 * across fetch responses. The client's `Consumer#fetch` filters each fetch response
 * (#filterUncommittedMessages) only against abort markers within that response, and the messages the
 * stream makes carry neither producer ids nor the response's aborted-transaction list, so the stream's
 * output cannot be filtered afterwards. `fetch` is the public method the stream calls for every
 * response (MessagesStream#fetch), so this override gets each response after the client's own filter
 * and before the stream, and drops what the client left of aborted transactions (see
 * dropAbortedRecords); the stream then tracks offsets, skips markers and deserializes as before.
 */
import { Consumer, type CallbackWithPromise, type FetchOptions } from "@platformatic/kafka";
import { dropAbortedRecords, type FetchResponse } from "../shared/aborted-transactions.ts";

type Options = FetchOptions<Buffer, Buffer, Buffer, Buffer>;

export class ReadCommittedConsumer extends Consumer<Buffer, Buffer, Buffer, Buffer> {
  override fetch(options: Options, callback: CallbackWithPromise<FetchResponse>): void;
  override fetch(options: Options): Promise<FetchResponse>;
  override fetch(
    options: Options,
    callback?: CallbackWithPromise<FetchResponse>,
  ): void | Promise<FetchResponse> {
    if (callback === undefined)
      return super.fetch(options).then((response) => withoutAbortedRecords(response));
    super.fetch(options, (error, response) =>
      callback(error, response === undefined ? undefined : withoutAbortedRecords(response)),
    );
  }
}

/** The response with the records of aborted transactions dropped (in place; a no-op read_uncommitted). */
function withoutAbortedRecords(response: FetchResponse): FetchResponse {
  for (const topic of response.responses)
    for (const partition of topic.partitions) dropAbortedRecords(partition);
  return response;
}
