#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of one pinned Kubernetes
# release from the Go module proxy. k8s.io/kubernetes pins its staging modules to v0.0.0 with local
# replaces, so `go install` refuses it; a wrapper module that replaces each staging module with its
# published v0.x tag builds the real binaries, in one `go build` so the packages they share compile
# once. No debug info (-gcflags=all=-dwarf=false, -ldflags -w): see go-tool.sh.
# --fetch-only: download the modules only (see go-tool.sh).
# Usage: kube.sh [--fetch-only] <version> <dest-dir>
set -euo pipefail
FETCH_ONLY=no
if [ "${1:-}" = --fetch-only ]; then FETCH_ONLY=yes; shift; fi
V=${1:?kubernetes version, e.g. 1.34.4}
DEST=${2:?destination directory}
SV=v0.${V#1.}
MIN=$(echo "$V" | cut -d. -f2)
mkdir -p "$(dirname "$DEST")"
WORK=$(mktemp -d "${DEST%/}.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
go mod init local/k8sbin >/dev/null 2>&1
go mod edit -godebug=default=go1.24
GOMOD=$(go mod download -json "k8s.io/kubernetes@v$V" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$GOMOD"); do
  go mod edit "-replace=$m=$m@$SV"
done
P=k8s.io/kubernetes/cmd
go get -tool "$P/kube-apiserver@v$V" "$P/kube-controller-manager@v$V" "$P/kube-scheduler@v$V" "$P/kubectl@v$V"
if [ "$FETCH_ONLY" = yes ]; then
  go list -deps "$P/kube-apiserver" "$P/kube-controller-manager" "$P/kube-scheduler" "$P/kubectl" >/dev/null
  exit 0
fi
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false -o bin/ -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$V \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MIN" \
  "$P/kube-apiserver" "$P/kube-controller-manager" "$P/kube-scheduler" "$P/kubectl"
mkdir -p "$DEST"
mv bin/* "$DEST/"
