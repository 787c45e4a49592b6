import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** TLS material for probing a server; paths are read on each call (they are small). */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  /** Skip server verification (components with self-signed serving certs, health only). */
  insecure?: boolean;
}

/** GETs a URL and returns its status code and body; used by readiness checks. */
export async function probe(url: string, tls: TlsFiles = {}): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolveProbe, reject) => {
    const req = request(
      target,
      {
        method: "GET",
        timeout: 2000,
        ...(target.protocol === "https:"
          ? {
              ca: tls.ca !== undefined ? readFileSync(tls.ca) : undefined,
              cert: tls.cert !== undefined ? readFileSync(tls.cert) : undefined,
              key: tls.key !== undefined ? readFileSync(tls.key) : undefined,
              rejectUnauthorized: tls.insecure !== true,
            }
          : {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolveProbe({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
