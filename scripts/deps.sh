#!/usr/bin/env bash
# Installs what ringactor needs on Debian 12, skipping what is already there. Run as root.
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config liburing-dev libtbb-dev libconcurrentqueue-dev
          libgtest-dev libbenchmark-dev clang libclang-rt-14-dev nlohmann-json3-dev curl libssl-dev zlib1g-dev libsqlite3-dev
          nodejs node-ws  # the WebSocket interop test's client (tests/interop/ws_client.js)
          chromium  # the arena's browser test (tests/arena/browser_test.js), headless
          prometheus  # prometheus: promtool checks what /metrics serves
          nats-server libnats-dev)  # the cluster (cluster/) and its tests
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
