#!/usr/bin/env bash
# `make run`: VRM on the embedded SQLite database plus one local CNA agent.
# The agent enrolls itself into the cluster "default" on first start and reuses
# its identity (var/cna/identity.json) afterwards. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
VRM_HOST=${VRM_HOST:-127.0.0.1}
VRM_PORT=${VRM_PORT:-8000}
AGENT_STATE=${CNA_STATE_DIR:-$PWD/var/cna}
export VRM_DATABASE_URL=${VRM_DATABASE_URL:-sqlite:///./var/vrm.db}

mkdir -p var
"$BIN/vrm" db upgrade

# qemu:///system needs root and a running libvirtd; elsewhere the agent drives
# libvirt's built-in test driver so the product can still be explored.
if [ -z "${CNA_LIBVIRT_URI:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    scripts/node-services.sh
    CNA_LIBVIRT_URI=qemu:///system
    # Disk images where QEMU (user libvirt-qemu) can reach them, whatever this folder is.
    export CNA_POOL_DIR=${CNA_POOL_DIR:-/var/lib/openvrm-cna/pools/openvrm-local}
  else
    echo "run: not root: the local agent uses libvirt's test driver (test:///default)" >&2
    CNA_LIBVIRT_URI=test:///default
  fi
fi

enroll_args=()
if [ ! -f "$AGENT_STATE/identity.json" ]; then
  token=$("$BIN/vrm" enrollment-token create --cluster default --create-cluster)
  enroll_args=(--enroll-token "$token")
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN/vrm" serve --host "$VRM_HOST" --port "$VRM_PORT" &
pids+=($!)

CNA_STATE_DIR="$AGENT_STATE" CNA_LIBVIRT_URI="$CNA_LIBVIRT_URI" \
  "$BIN/cna-agent" run --vrm-url "http://127.0.0.1:$VRM_PORT" \
  --listen "${CNA_LISTEN:-127.0.0.1:7070}" "${enroll_args[@]}" &
pids+=($!)

echo "run: VRM on http://$VRM_HOST:$VRM_PORT (API docs: /api/docs); local agent on ${CNA_LISTEN:-127.0.0.1:7070}"
wait -n "${pids[@]}"
