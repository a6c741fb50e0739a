#!/usr/bin/env bash
# How long `scripts/services prune --stop-registry` takes on what tests left on this machine.
#
#   flock /tmp/bench.lock bench/prune.sh
#
# Copies the running services' state (the engine's data root and the registry's storage, from
# MLTOOLKIT_STATE_DIR, default /var/tmp/mltoolkit) into a scratch state directory, starts a
# private dockerd and registry on the copies, prunes them twice (the leftovers, then nothing
# left: the cost on a clean machine) and removes the copies. The running services are only read.
# dockerd does the engine's deleting: its CPU time is read from /proc, beside the script's.
set -Eeuo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOURCE=${MLTOOLKIT_STATE_DIR:-/var/tmp/mltoolkit}
SCRATCH=${MLTOOLKIT_BENCH_SCRATCH:-/var/tmp/mltoolkit-prune-bench}
PORT=${MLTOOLKIT_BENCH_REGISTRY_PORT:-5581}
STATE=$SCRATCH/state
ENGINE=unix://$STATE/run/docker.sock

services() {
  env -u DOCKER_HOST -u MLTOOLKIT_REGISTRY MLTOOLKIT_STATE_DIR="$STATE" \
    MLTOOLKIT_REGISTRY_PORT="$PORT" "$REPO_ROOT/scripts/services" "$@"
}
cleanup() {
  services stop >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

ticks() { # pid: user+system CPU ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

inventory() {
  local images names containers repos
  images=$(DOCKER_HOST=$ENGINE docker image ls -q | sort -u | wc -l)
  names=$(DOCKER_HOST=$ENGINE docker image ls --format '{{.Repository}}:{{.Tag}}' | wc -l)
  containers=$(DOCKER_HOST=$ENGINE docker ps -aq | wc -l)
  repos=$(find "$STATE/registry/data/docker/registry/v2/repositories" -name _manifests 2>/dev/null | wc -l)
  echo "$images images ($names names), $containers containers, engine data" \
    "$(du -sh "$STATE/docker/data" | cut -f1); $repos repositories, registry" \
    "$(du -sh "$STATE/registry/data" | cut -f1)"
}

prune_once() { # label
  local before after dockerd tick wall cpu
  dockerd=$(<"$STATE/run/dockerd.own.pid")
  echo "$1, before: $(inventory)"
  before=$(ticks "$dockerd")
  tick=$(getconf CLK_TCK)
  wall=$( { /usr/bin/time -f '%e %U %S' bash -c "$(declare -f services); STATE=$STATE PORT=$PORT REPO_ROOT=$REPO_ROOT services prune --stop-registry" 2>&1 >/dev/null | tail -n 1; } )
  after=$(ticks "$dockerd")
  read -r wall user sys <<<"$wall"
  cpu=$(echo "scale=2; ($after - $before) / $tick" | bc)
  echo "$1: wall $wall s; CPU: script + registry gc $(echo "$user + $sys" | bc) s, dockerd $cpu s"
  echo "$1, after: $(inventory)"
}

rm -rf "$SCRATCH"
mkdir -p "$STATE/docker/data" "$STATE/registry"
started=$(date +%s)
# The engine's data root may be a mount of its own: copied, not hard-linked; its tmp/ holds
# build contexts in flight and running containers' mounts stay behind (-x).
for dir in "$SOURCE"/docker/data/*; do
  [[ ${dir##*/} == tmp ]] || cp -ax "$dir" "$STATE/docker/data/" 2>>"$SCRATCH/copy-errors.log" || true
done
mkdir -p "$STATE/docker/data/tmp"
cp -a "$SOURCE/registry/data" "$STATE/registry/data"
echo "copied the services' state in $(($(date +%s) - started)) s"
services start >/dev/null 2>&1
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
prune_once "leftovers"
prune_once "clean machine"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
