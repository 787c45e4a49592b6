// When a watch is given up as dead. A watch whose connection was black-holed (the API server is gone
// behind a proxy or load balancer that keeps the client's side of the TCP connection open, or a
// network drops packets without resetting anything) neither ends nor fails: without a bound the
// informer would miss every change until the connection pool's own timeouts (minutes). Over HTTP/2
// undici's PINGs drop such a connection after 60-120 s; over HTTP/1.1 (a proxy in between) nothing
// does, so the informer also uses what the API server promises on the watch itself:
//   - it ends every watch at the `timeoutSeconds` the client asked for, so a watch still open well
//     past that is dead (holds on every API server version);
//   - to a watch that asked for bookmarks it sends one about every minute (since Kubernetes 1.19) and
//     2 s before the timeout, so a healthy watch is never silent much longer than a minute.
// A watch given up is opened again from the last resourceVersion (a bookmark keeps it fresh): not a
// relist. Should a server send no bookmarks, a quiet watch is merely reopened a little early.

/** The shortest server-side timeout asked for; each watch picks one in [this, 2x this). */
export const defaultWatchTimeoutSeconds = 60;
/** How long a watch may send nothing: 1.5x the API server's bookmark period of about a minute. */
export const defaultWatchInactivityMs = 90_000;
/** How long after its server-side timeout a watch that has not ended is given up. */
export const watchTimeoutGraceMs = 15_000;

/**
 * A server-side timeout in [minSeconds, 2*minSeconds), so that many informers (and replicas) do not
 * reconnect all at once; `random` in [0, 1).
 */
export function watchTimeoutSeconds(minSeconds: number, random: number = Math.random()): number {
  return minSeconds + Math.floor(random * minSeconds);
}

/**
 * When (epoch ms) a watch started at `startedMs` with `timeoutSeconds`, whose last message (event or
 * bookmark; its start before any) arrived at `lastMessageMs`, is to be given up as dead.
 */
export function watchDeadMs(watch: {
  startedMs: number;
  lastMessageMs: number;
  timeoutSeconds: number;
  inactivityMs: number;
}): number {
  return Math.min(
    watch.startedMs + watch.timeoutSeconds * 1000 + watchTimeoutGraceMs,
    watch.lastMessageMs + watch.inactivityMs,
  );
}
