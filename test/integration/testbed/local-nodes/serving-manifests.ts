// The objects of the serving scenario: a `jude serve` Deployment configured by a ConfigMap, with its
// bearer token from a Secret and the testbed model from a PersistentVolumeClaim, plus its Service.
import { judeImage, onLocalNode } from "./helpers.ts";

export const servingPort = 50051;

/** The model as a PersistentVolume (hostPath, the local-node convention) and a claim bound to it. */
export function modelVolume(namespace: string, modelDir: string): object[] {
  const storageClassName = `local-${namespace}`;
  return [
    {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${namespace}-model` },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadOnlyMany"],
        storageClassName,
        hostPath: { path: modelDir, type: "Directory" },
        claimRef: { namespace, name: "model" },
      },
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "model", namespace },
      spec: {
        accessModes: ["ReadOnlyMany"],
        storageClassName,
        volumeName: `${namespace}-model`,
        resources: { requests: { storage: "1Gi" } },
      },
    },
  ];
}

/** Config and token, as the operator will render them. */
export function servingConfig(namespace: string, token: string): object[] {
  const config = [
    "modelDir: /models/minilm",
    `listen: { host: 0.0.0.0, grpcPort: ${servingPort}, httpPort: 8080 }`,
    "auth: { tokenFile: /var/run/jude/auth/token }",
    "backend: { executionProvider: cpu, intraOpThreads: 1 }",
    "drainTimeoutMs: 20000",
    "",
  ].join("\n");
  return [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "embedder-config", namespace },
      data: { "config.yaml": config },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "embedder-auth", namespace },
      stringData: { token },
    },
  ];
}

/** The Deployment (zero-downtime rolling update: one extra pod at a time) and its Service. */
export function embedderDeployment(namespace: string, replicas: number, configHash: string): object[] {
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "embedder", namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: "embedder" } },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: { app: "embedder" }, annotations: { "jude.dev/config-hash": configHash } },
          spec: {
            ...onLocalNode("local-gpu-0"),
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: "server",
                image: judeImage,
                args: ["serve", "--config", "/etc/jude/config.yaml"],
                ports: [{ name: "grpc", containerPort: servingPort }],
                readinessProbe: { grpc: { port: servingPort }, periodSeconds: 1, failureThreshold: 1 },
                livenessProbe: {
                  grpc: { port: servingPort },
                  periodSeconds: 5,
                  failureThreshold: 6,
                  initialDelaySeconds: 60,
                },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/jude" },
                  { name: "auth", mountPath: "/var/run/jude/auth", readOnly: true },
                  { name: "model", mountPath: "/models/minilm", readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name: "embedder-config" } },
              { name: "auth", secret: { secretName: "embedder-auth", defaultMode: 0o400 } },
              { name: "model", persistentVolumeClaim: { claimName: "model", readOnly: true } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "embedder", namespace },
      spec: {
        selector: { app: "embedder" },
        ports: [{ name: "grpc", port: servingPort, targetPort: "grpc" }],
      },
    },
  ];
}

/** A pod that embeds through the Service name in a loop until `control/stop` exists on the host. */
export function loopingClient(namespace: string, controlDir: string): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "client", namespace },
    spec: {
      ...onLocalNode("local-cpu-0"),
      restartPolicy: "Never",
      containers: [
        {
          name: "client",
          image: judeImage,
          command: ["node", "/.jude-testbed/app/test/integration/testbed/local-nodes/fixtures/embed-loop.ts"],
          env: [{ name: "EMBED_ADDRESS", value: `embedder:${servingPort}` }],
          volumeMounts: [
            { name: "auth", mountPath: "/var/run/jude/auth", readOnly: true },
            { name: "control", mountPath: "/control" },
          ],
        },
      ],
      volumes: [
        { name: "auth", secret: { secretName: "embedder-auth" } },
        { name: "control", hostPath: { path: controlDir, type: "Directory" } },
      ],
    },
  };
}
