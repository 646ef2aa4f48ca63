#!/usr/bin/env bash
# Remote messages through NATS: ringactor's cluster beside raw libnats publish/subscribe with
# the same 32-byte payloads (bench/cluster_bench.cpp), on one nats-server (Debian's) on
# loopback. Rows, alternating, ROUNDS rounds each:
#   raw / hop / tell, flat out (200,000 messages): rate, and CPU per message in sender and receiver
#   raw / hop / tell, paced at 10,000/s (20,000 messages): one-way latency p50/p99, CPU per message
#   (hop: raw libnats plus the two thread hand-offs the cluster's threading rule requires:
#   the floor of a design in which NATS threads never touch actors; see cluster_bench.cpp)
#   topic to 3 receiving processes, flat out (100,000) and paced (10,000/s, 20,000)
# Everything (sender, receivers, nats-server) shares the machine's CPUs 0-1: on a 2-core
# machine the figures are what the whole system costs, not one side on a quiet core.
#   bash bench/cluster.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bash scripts/deps.sh
cmake --preset bench >/dev/null
cmake --build --preset bench --target cluster_bench >/dev/null
bin=build/bench/bin
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats" -a 127.0.0.1 -p -1 >"$tmp/nats.log" 2>&1 &
for _ in $(seq 100); do grep -q "Listening for client connections" "$tmp/nats.log" && break; sleep 0.05; done
port=$(grep -o 'client connections on 127.0.0.1:[0-9]*' "$tmp/nats.log" | grep -o '[0-9]*$')
url="nats://127.0.0.1:$port"
declare -A res
run() {  # LABEL MODE N [RATE]
  local json
  json=$(taskset -c 0,1 $bin/cluster_bench "$2" "$url" "$3" "${4:-0}" | tail -1) || { echo "$1: failed" >&2; return 0; }
  for k in rate_per_s p50_us p99_us sender_cpu_us_per_msg receiver_cpu_us_per_msg; do
    res["$1 $k"]+="$(grep -o "\"$k\":[0-9.]*" <<<"$json" | cut -d: -f2) "
  done
}
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds" >&2
  run "raw flat" raw 200000
  run "hop flat" hop 200000
  run "tell flat" tell 200000
  run "raw paced" raw 20000 10000
  run "hop paced" hop 20000 10000
  run "tell paced" tell 20000 10000
  run "topic flat" topic 100000
  run "topic paced" topic 20000 10000
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m() { tr ' ' '\n' <<<"${res["$1 $2"]:-}" | { grep . || true; } | median; }
echo "cluster_bench on nats-server $("$nats" --version | grep -o '[0-9.]*$'), medians of $rounds alternating rounds ($(date +%F), $(nproc) CPUs)"
printf '%-12s %12s %10s %10s %16s %18s\n' row "msgs/s" "p50 us" "p99 us" "sender us/msg" "receiver us/msg"
for row in "raw flat" "hop flat" "tell flat" "topic flat" "raw paced" "hop paced" "tell paced" "topic paced"; do
  printf '%-12s %12s %10s %10s %16s %18s\n' "$row" "$(m "$row" rate_per_s)" "$(m "$row" p50_us)" "$(m "$row" p99_us)" \
    "$(m "$row" sender_cpu_us_per_msg)" "$(m "$row" receiver_cpu_us_per_msg)"
done
