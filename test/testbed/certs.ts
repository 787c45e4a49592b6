import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runStep } from "./step.ts";

/** File paths of the control plane's PKI, laid out the way envtest lays out its own. */
export interface Pki {
  dir: string;
  servingCa: string;
  servingCert: string;
  servingKey: string;
  clientCa: string;
  clientCaKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/**
 * Generates, once per state dir, what controller-runtime's envtest generates: a serving CA and the
 * API server's certificate for 127.0.0.1/localhost, a client CA with an admin client certificate in
 * `system:masters`, and the service-account signing key pair. ECDSA P-256 like envtest; OpenSSL does
 * the X.509 work because Node's crypto cannot issue certificates.
 */
export async function ensurePki(
  dir: string,
  logFile: string,
  extraIps: readonly string[] = [],
): Promise<Pki> {
  const pki: Pki = {
    dir,
    servingCa: join(dir, "serving-ca.crt"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    clientCa: join(dir, "client-ca.crt"),
    clientCaKey: join(dir, "client-ca.key"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
  };
  if (existsSync(pki.serviceAccountPub)) return pki;
  mkdirSync(dir, { recursive: true });
  const openssl = (step: string, args: string[]): Promise<void> =>
    runStep(`kube pki: ${step}`, "openssl", args, { logFile, cwd: dir });
  writeFileSync(
    join(dir, "apiserver.ext"),
    `subjectAltName=IP:127.0.0.1,IP:10.0.0.1,${extraIps.map((address) => `IP:${address},`).join("")}DNS:localhost,` +
      "DNS:kubernetes,DNS:kubernetes.default," +
      "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n" +
      "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
  );
  writeFileSync(join(dir, "admin.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  await openssl("serving CA", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "serving-ca.key",
    "-out",
    "serving-ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=jude-testbed-serving-ca",
  ]);
  await openssl("client CA", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "client-ca.key",
    "-out",
    "client-ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=jude-testbed-client-ca",
  ]);
  await openssl("apiserver CSR", [
    "req",
    ...ec,
    "-keyout",
    "apiserver.key",
    "-out",
    "apiserver.csr",
    "-subj",
    "/CN=kube-apiserver",
  ]);
  await openssl("apiserver cert", [
    "x509",
    "-req",
    "-in",
    "apiserver.csr",
    "-CA",
    "serving-ca.crt",
    "-CAkey",
    "serving-ca.key",
    "-CAcreateserial",
    "-out",
    "apiserver.crt",
    "-days",
    "3650",
    "-extfile",
    "apiserver.ext",
  ]);
  await openssl("admin CSR", [
    "req",
    ...ec,
    "-keyout",
    "admin.key",
    "-out",
    "admin.csr",
    "-subj",
    "/O=system:masters/CN=jude-testbed-admin",
  ]);
  await openssl("admin cert", [
    "x509",
    "-req",
    "-in",
    "admin.csr",
    "-CA",
    "client-ca.crt",
    "-CAkey",
    "client-ca.key",
    "-CAcreateserial",
    "-out",
    "admin.crt",
    "-days",
    "3650",
    "-extfile",
    "admin.ext",
  ]);
  await openssl("service-account key", [
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    "sa.key",
  ]);
  await openssl("service-account public key", ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  return pki;
}
