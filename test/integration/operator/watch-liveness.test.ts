// Informers against the testbed's real API server, reached through a TCP link the test can
// black-hole: the watch's connection stays open but nothing passes any more (a peer gone behind a
// proxy or load balancer that keeps the client's side open). Each must notice on its own, watch again
// from where it was, and see what changed meanwhile; an informer on a healthy connection over the
// same period must not be restarted for silence nor relist.
// Two transports: HTTP/2 (what the operator's client negotiates with an API server; undici PINGs the
// connection every 60 s and drops it after a missed PING) and HTTP/1.1 (no PINGs: what remains
// when something between speaks HTTP/1.1 only, or answers PINGs itself). Only the informer's own
// watchdog (operator/runtime/watch-liveness.ts) covers the second.
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Informer, type RestartReason } from "../../../operator/runtime/informer.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { apiListWatcher, type ListWatcher } from "../../../operator/runtime/list-watcher.ts";
import { resourcePath, resourceTypes } from "../../../operator/runtime/resource-types.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { waitFor } from "../../testbed/wait.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { apiServerAddress, kubeconfigThrough, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { createRestrictedNamespace, deleteNamespace } from "./operator-harness.ts";

const namespace = `operator-watch-${process.pid}`;
/**
 * How long a black-holed informer may take to see a change: what the transport and the watchdog
 * promise, plus slack for a loaded machine. HTTP/1.1 relies on the watchdog alone (a watch silent
 * for 90 s while the API server sends a bookmark about every minute, or still open 15 s after its
 * server-side timeout of at most 120 s, is dead); before it, such a watch waited out a 180 s
 * inactivity limit (measured 180.7 s). HTTP/2's PINGs drop a dead connection after 60-120 s; the
 * watchdog's retry rides the same connection until then (measured 120.5 s before and after).
 */
const detectionLimitMs = 150_000;
/** The healthy informer is watched at least this long: past the silence limit, across a bookmark. */
const healthyObservedMs = 100_000;

interface Watched {
  informer: Informer;
  restarts: RestartReason[];
  lists: () => number;
  client: KubeClient;
}

/** A KubeConfig whose connections speak HTTP/1.1 only (the same TLS, no HTTP/2). */
class Http1KubeConfig extends KubeConfig {
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const tls: Record<string, unknown> = {};
    await this.applyToHTTPSOptions(tls);
    const options = this.createDispatcherOptions(this.getCurrentCluster(), tls);
    if (options.type !== "agent") throw new Error(`cannot force HTTP/1.1 on a ${options.type} kubeconfig`);
    context.setDispatcher(new Agent({ connect: options.connect, allowH2: false }) as never);
  }
}

function watchConfigMaps(kubeconfigPath: string, transport: "HTTP/2" | "HTTP/1.1" = "HTTP/2"): Watched {
  const kubeConfig = transport === "HTTP/2" ? new KubeConfig() : new Http1KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const client = new KubeClient(kubeConfig);
  const inner = apiListWatcher(client, resourceTypes.configMap, { namespace });
  let lists = 0;
  const listWatcher: ListWatcher = {
    ...inner,
    list: (signal) => ((lists += 1), inner.list(signal)),
    watch: (...args) => inner.watch(...args),
  };
  const restarts: RestartReason[] = [];
  const informer = new Informer({
    name: "configmaps",
    listWatcher,
    log: silentLogger(),
    onRestart: (reason) => restarts.push(reason),
  });
  return { informer, restarts, lists: () => lists, client };
}

async function createConfigMap(name: string): Promise<void> {
  await kubectl(["create", "configmap", name, "-n", namespace, `--from-literal=name=${name}`]);
}

describe("an informer whose watch connection is black-holed", () => {
  let link: TcpLink;
  const running: Watched[] = [];

  beforeAll(async () => {
    await createRestrictedNamespace(namespace);
    link = await startTcpLink(apiServerAddress(requireEnv("KUBECONFIG")));
  });

  afterAll(async () => {
    for (const watched of running) {
      await watched.informer.stop();
      await watched.client.close();
    }
    await link?.close();
    await deleteNamespace(namespace);
  });

  it(
    "notices, watches again from its resourceVersion and sees the change it missed",
    { timeout: 300_000 },
    async () => {
      const throughLink = kubeconfigThrough(requireEnv("KUBECONFIG"), link.port);
      const cutOff = {
        "HTTP/2": watchConfigMaps(throughLink),
        "HTTP/1.1": watchConfigMaps(throughLink, "HTTP/1.1"),
      };
      const healthy = watchConfigMaps(requireEnv("KUBECONFIG"));
      running.push(...Object.values(cutOff), healthy);
      const startedAt = Date.now();
      for (const { informer } of running) informer.start();
      await Promise.all(running.map(({ informer }) => informer.waitForSync()));
      // A change seen through the watch proves the watch is connected before it is cut.
      await createConfigMap("before");
      await waitFor("every informer to see 'before'", () =>
        running.every(({ informer }) => informer.get(`${namespace}/before`) !== undefined),
      );

      link.freezeOpen();
      const frozenAt = Date.now();
      await createConfigMap("missed");
      const detected = await Promise.all(
        Object.entries(cutOff).map(async ([transport, watched]) => {
          await waitFor(
            `the cut-off ${transport} informer to see 'missed'`,
            () => watched.informer.get(`${namespace}/missed`) !== undefined,
            { timeoutMs: detectionLimitMs, intervalMs: 500 },
          );
          const seconds = (Date.now() - frozenAt) / 1000;
          return `${transport}: ${seconds.toFixed(1)} s (restarts ${watched.restarts.join(", ")}; lists ${watched.lists()})`;
        }),
      );
      console.error(
        `[watch-liveness] a black-holed watch was noticed and the change seen after: ${detected.join("; ")}`,
      );
      // Without PINGs only the informer's watchdog can have noticed.
      expect(cutOff["HTTP/1.1"].restarts).toContain("stalled");

      // Recovered: the new watch delivers at once.
      await createConfigMap("after");
      await waitFor("the cut-off informers to see 'after'", () =>
        Object.values(cutOff).every(({ informer }) => informer.get(`${namespace}/after`) !== undefined),
      );

      // The healthy informer, watched past the silence limit, was only ever reconnected at its
      // server-side timeout (reason "closed") and never relisted.
      await sleep(Math.max(0, startedAt + healthyObservedMs - Date.now()));
      console.error(
        `[watch-liveness] a healthy informer over ${((Date.now() - startedAt) / 1000).toFixed(0)} s: restarts ${JSON.stringify(healthy.restarts)}, lists ${healthy.lists()}`,
      );
      expect(healthy.restarts.filter((reason) => reason !== "closed")).toEqual([]);
      expect(healthy.lists()).toBe(1);
    },
  );
});

describe("a watch left by a throw (an ERROR event, a handler's error)", () => {
  const thrownNamespace = `${namespace}-thrown`;

  beforeAll(async () => {
    await createRestrictedNamespace(thrownNamespace);
  });

  afterAll(async () => {
    await deleteNamespace(thrownNamespace);
  });

  it("releases its stream, so closing the client later raises nothing", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
      const client = new KubeClient(kubeConfig);
      const path = resourcePath(resourceTypes.configMap, thrownNamespace);
      const { resourceVersion } = await client.list(path);
      const watching = client.watch(
        path,
        { resourceVersion, timeoutSeconds: 60 },
        {
          onConnected: () => undefined,
          onEvent: () => {
            throw new Error("handler failed");
          },
        },
        new AbortController().signal,
      );
      const ended = watching.then(
        () => "ended normally",
        (error: unknown) => error,
      );
      await kubectl(["create", "configmap", "thrown", "-n", thrownNamespace]);
      expect(await ended).toMatchObject({ message: "handler failed" });
      // The server still holds the watch open; before the fix its body errored here with nobody
      // listening ("terminated"), an uncaught exception.
      await client.close();
      await sleep(200);
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});
