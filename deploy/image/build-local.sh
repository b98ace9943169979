#!/usr/bin/env bash
# Builds the idleprobe image from local files only (no registry pull):
# a static idleprobe built here, the host's CA bundle, the example config and
# the alert rules, in the final stage of the Dockerfile
# (deploy/image/Containerfile.local), with buildah.
#
# usage: deploy/image/build-local.sh [TAG]    (default localhost/idleprobe:dev)
# Environment: VERSION (default dev), BUILDAH_FLAGS (e.g. "--root DIR
# --runroot DIR --storage-driver vfs" for a throw-away store, as CI uses).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-localhost/idleprobe:dev}
version=${VERSION:-dev}
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { echo "$ca is missing: apt-get install ca-certificates" >&2; exit 2; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${version}" \
	-o "$ctx/idleprobe" ./cmd/idleprobe
cp "$ca" "$ctx/ca-certificates.crt"
cp configs/examples/minimal.yml "$ctx/idleprobe.yml"
cp configs/alerts/idleprobe.rules.yml "$ctx/idleprobe.rules.yml"
echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$ctx/passwd"
echo 'nonroot:x:65532:' >"$ctx/group"
mkdir "$ctx/home"
# shellcheck disable=SC2086 # BUILDAH_FLAGS is a list of flags
buildah ${BUILDAH_FLAGS:-} build --quiet --layers=false -f deploy/image/Containerfile.local -t "$tag" "$ctx" >/dev/null
echo "built $tag"
