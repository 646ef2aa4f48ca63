#!/usr/bin/env bash
# What a second reactor costs per request: bench/node_http (hello's /plaintext on a
# node::Node of N reactors, one SO_REUSEPORT listener each) with 1 reactor on CPU 0 and with
# 2 reactors on CPUs 0-1, loadgen on CPU 1 (on a 2-core machine it shares that CPU with the
# second reactor), 256 connections: HTTP keep-alive and pipelined x16, and WebSocket echo
# (64 B messages, 1 and 16 in flight per connection), alternating, ROUNDS rounds of 5 s each
# after 2 s of warm-up. Prints requests (or echoed messages)/s, server CPU (utime+stime) per
# request or message, and each reactor's share of the connections and requests.
#   bash bench/node_http.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bash scripts/deps.sh
cmake --preset bench >/dev/null
cmake --build --preset bench --target node_http loadgen >/dev/null
bin=build/bench/bin
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
hz=$(getconf CLK_TCK)
one() {  # REACTORS SERVER_CPUS DEPTH [ws]
  taskset -c "$2" $bin/node_http --reactors "$1" >"$tmp/out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.05; done
  local port
  port=$(grep -o '[0-9]*$' "$tmp/out" | head -1)
  local mode=http load=(-p "$3" "http://127.0.0.1:$port/plaintext") kind=http
  if [[ ${4:-} == ws ]]; then mode=ws-echo load=(--size 64 --inflight "$3" "ws://127.0.0.1:$port/ws/echo") kind=ws; fi
  taskset -c 1 $bin/loadgen "$mode" -c 256 -d 2s --no-progress "${load[@]}" >/dev/null 2>&1 || true
  local c0 c1 json
  c0=$(awk '{print $14 + $15}' /proc/$pid/stat)
  json=$(taskset -c 1 $bin/loadgen "$mode" -c 256 -d 5s --no-progress "${load[@]}" 2>&1 | tail -1)
  c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
  kill -TERM $pid
  wait $pid || true
  local req rps
  req=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<<"$json")
  rps=$(sed -n 's/.*"rps":\([0-9.]*\).*/\1/p' <<<"$json")
  printf '%-5s %-9s %-6s %-12s %-10.3f %s\n' "$kind" "$1" "$3" "${rps:-0}" "$(echo "($c1 - $c0) / $hz * 1000000 / ${req:-1}" | bc -l)" \
    "$(grep 'reactor [0-9]' "$tmp/out" | sed 's/node_http: //; s/, 0 ws messages//; s/, 0 requests, /, /' | tr '\n' ';')"
}
printf '%-5s %-9s %-6s %-12s %-10s %s\n' kind reactors depth "req|msg/s" us/each "per reactor"
for _ in $(seq "$rounds"); do
  for depth in 1 16; do
    one 1 0 "$depth"
    one 2 0,1 "$depth"
    one 1 0 "$depth" ws
    one 2 0,1 "$depth" ws
  done
done
