#!/usr/bin/env bash
# Build SWEN's image without a registry, then check that it serves /healthz (docs/DEPLOY.md).
#
#   scripts/image.sh build   the local base (debootstrap, cached), a terraform image, then the Dockerfile
#   scripts/image.sh smoke   run `swen api` inside the image on loopback and wait for /healthz
#   scripts/image.sh all     both (what `make image` runs)
#
# Needs root, buildah and debootstrap (Debian packages). Settings (environment):
#   SWEN_IMAGE          tag to build                  (default localhost/swen:dev)
#   SWEN_IMAGE_CACHE    where the base rootfs is kept (default ~/.cache/swen-image)
#   SWEN_IMAGE_MIRROR   Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   SWEN_IMAGE_PORT     loopback port of the smoke check (default 18080)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${SWEN_IMAGE:-localhost/swen:dev}
CACHE=${SWEN_IMAGE_CACHE:-$HOME/.cache/swen-image}
MIRROR=${SWEN_IMAGE_MIRROR:-http://deb.debian.org/debian}
PORT=${SWEN_IMAGE_PORT:-18080}
BASE_IMAGE=localhost/swen-base:bookworm
TF_IMAGE=localhost/swen-terraform:local

die() { echo "image: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is missing: apt-get install -y $2"; }
have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

base_rootfs() {
  # debootstrap takes a minute or two; the tarball is reused until deleted.
  local tarball=$CACHE/bookworm-minbase.tar
  if [ ! -s "$tarball" ]; then
    need debootstrap debootstrap
    mkdir -p "$CACHE"
    local dir=$CACHE/rootfs.tmp
    rm -rf "$dir"
    echo "image: debootstrap bookworm (minbase + python3, python3-venv) into $dir" >&2
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$dir" "$MIRROR" >&2
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$dir"
  fi
  echo "$tarball"
}

base_image() {
  have_image "$BASE_IMAGE" && return 0
  local tarball ctr mnt
  tarball=$(base_rootfs)
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar -C "$mnt" -xf "$tarball"
  buildah umount "$ctr" >/dev/null
  buildah config --cmd /bin/bash --env LANG=C.UTF-8 "$ctr"
  buildah commit --rm "$ctr" "$BASE_IMAGE" >/dev/null
  echo "image: base $BASE_IMAGE from $tarball" >&2
}

terraform_image() {
  # The Dockerfile copies /bin/terraform from TERRAFORM_IMAGE (the official image's layout); no
  # registry is reachable here, so the image is made from the terraform binary on PATH.
  have_image "$TF_IMAGE" && return 0
  local tf ctr
  tf=$(command -v terraform) || die "terraform is not on PATH (the image needs its binary)"
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$tf" /bin/terraform >/dev/null
  buildah commit --rm "$ctr" "$TF_IMAGE" >/dev/null
  echo "image: $TF_IMAGE from $tf" >&2
}

build() {
  need buildah buildah
  [ "$(id -u)" = 0 ] || die "building with buildah here needs root"
  base_image
  terraform_image
  # pip inside the build reaches PyPI only with this machine's CA bundle mounted.
  buildah bud --isolation chroot --layers --force-rm \
    --volume /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg BASE="$BASE_IMAGE" --build-arg TERRAFORM_IMAGE="$TF_IMAGE" \
    --tag "$IMAGE" --file Dockerfile .
  echo "image: built $IMAGE" >&2
}

SMOKE_CTR=""
SMOKE_PID=""
smoke_cleanup() {
  if [ -n "$SMOKE_PID" ]; then kill "$SMOKE_PID" 2>/dev/null || true; wait "$SMOKE_PID" 2>/dev/null || true; fi
  if [ -n "$SMOKE_CTR" ]; then buildah rm "$SMOKE_CTR" >/dev/null || true; fi
}

smoke() {
  need buildah buildah
  local ok=""
  trap smoke_cleanup EXIT
  SMOKE_CTR=$(buildah from "$IMAGE")
  buildah run --isolation chroot "$SMOKE_CTR" -- swen api --host 127.0.0.1 --port "$PORT" &
  SMOKE_PID=$!
  for _ in $(seq 1 120); do
    if python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=2).status != 200)" 2>/dev/null; then
      ok=1; break
    fi
    kill -0 "$SMOKE_PID" 2>/dev/null || break
    sleep 1
  done
  [ -n "$ok" ] || die "the API in $IMAGE did not answer /healthz on 127.0.0.1:$PORT"
  echo "image: $IMAGE answers /healthz on 127.0.0.1:$PORT" >&2
}

case "${1:-all}" in
  build) build ;;
  smoke) smoke ;;
  all) build; smoke ;;
  *) die "unknown step ${1}: use build, smoke or all" ;;
esac
