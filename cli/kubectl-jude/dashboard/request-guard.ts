// Who may talk to the dashboard. It listens on loopback only, but a web page from anywhere can still
// make the user's browser send requests to 127.0.0.1: a Host check defeats DNS rebinding, and actions
// must be same-origin JSON POSTs (a cross-site form cannot send application/json without a CORS
// preflight, which the server never grants).

/** Why a request is refused (HTTP status and message), or undefined when it may proceed. */
export type GuardVerdict = { status: number; message: string } | undefined;

/** The Host values the dashboard answers to on `port`. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** Checks a request's Host, and for state-changing requests its Origin and content type. */
export function guardRequest(
  method: string,
  headers: { host?: string | undefined; origin?: string | undefined; "content-type"?: string | undefined },
  port: number,
): GuardVerdict {
  const hosts = allowedHosts(port);
  if (headers.host === undefined || !hosts.has(headers.host.toLowerCase()))
    return { status: 421, message: `the dashboard only answers to ${[...hosts].join(", ")}` };
  if (method === "GET" || method === "HEAD") return undefined;
  if (method !== "POST") return { status: 405, message: `${method} is not allowed` };
  const origin = headers.origin;
  if (origin !== undefined && !hosts.has(origin.replace(/^https?:\/\//, "").toLowerCase()))
    return { status: 403, message: "cross-origin requests may not change anything" };
  if (!(headers["content-type"] ?? "").toLowerCase().startsWith("application/json"))
    return { status: 415, message: "actions are JSON requests" };
  return undefined;
}
