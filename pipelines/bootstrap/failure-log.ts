/**
 * The log of records a shard counts `failed` (undecodable, or without any extracted field): one warn
 * line each with the code, the reason and where the record is, the same codes nearline puts on its
 * dead letters. The checkpoint keeps only the count; this is how an operator finds the bad rows.
 */
import type { Logger } from "pino";
import type { UnitBatch } from "./source-units.ts";

/** Records logged one by one per start of a shard; a file of garbage must not flood the log. */
const loggedFailuresPerAttempt = 100;

/**
 * Logs why records counted `failed` were not written (code, reason, where), as nearline's dead-letter
 * headers say it, so an operator can find the bad rows; after the first hundred, only the count.
 */
export function failureReporter(logger: Logger): (batch: UnitBatch & { readonly unit: string }) => void {
  let logged = 0;
  return (batch) => {
    for (const failure of batch.failures ?? []) {
      if (logged === loggedFailuresPerAttempt) return;
      logged++;
      logger.warn({ unit: batch.unit, ...failure }, "record not written");
      if (logged === loggedFailuresPerAttempt)
        logger.warn(
          { unit: batch.unit },
          `${loggedFailuresPerAttempt} records not written so far; further ones are only counted (checkpoint field failed)`,
        );
    }
  };
}
