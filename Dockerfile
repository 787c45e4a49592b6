# syntax=docker/dockerfile:1
# The one `jude` image: `jude operator | serve | nearline | bootstrap | fetch-model`.
# Compiled JavaScript only, production dependencies only, numeric non-root user, nothing written to
# the root filesystem at run time (pods mount a read-only root; /tmp and /dev/shm come from volumes).
#
#   docker build -t ghcr.io/jude-dev/jude:0.1.0 .
#   buildah bud --isolation chroot -t ghcr.io/jude-dev/jude:0.1.0 .     (no Docker engine)
#
# BASE_IMAGE must provide Node 24 (node, npm) at /usr/local/bin; `scripts/build-image.sh` makes one from
# Debian packages plus the npm registry's official Node build where no registry is reachable.
ARG BASE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts stay off (allowScripts in package.json); onnxruntime-node's only fetches CUDA
# libraries, which the CPU image does not need. A build behind a TLS-intercepting proxy passes its CA
# bundle as the optional build secret `ca` (never stored in a layer).
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
# Sources only: .dockerignore lets in package files, tsconfigs and the source folders, no tests.
COPY . .
RUN npx tsc -p tsconfig.build.json \
 && chmod 0755 dist/cli/jude.js \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 # Type declarations and source maps of dependencies are never read at run time (about 60 MB).
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete \
 # onnxruntime-node ships binaries for every platform; keep linux/x64 (or linux/arm64) only.
 && arch=$(node -p process.arch) \
 && find node_modules/onnxruntime-node/bin/napi-v*/ -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin/napi-v*/linux -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} +

FROM ${BASE_IMAGE}
# The package version (scripts/build-image.sh passes package.json's); static, so a rebuild of the same
# version keeps buildah's layer cache.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="jude" \
      org.opencontainers.image.description="JUDE operator, embedding server and pipeline workers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/jude-dev/jude-operator" \
      org.opencontainers.image.url="https://github.com/jude-dev/jude-operator" \
      org.opencontainers.image.documentation="https://github.com/jude-dev/jude-operator#readme" \
      org.opencontainers.image.vendor="jude-dev" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY serving/proto ./serving/proto
RUN ln -s /app/dist/cli/jude.js /usr/local/bin/jude
ENV NODE_ENV=production
USER 65532:65532
ENTRYPOINT ["jude"]
CMD ["--help"]
