#!/usr/bin/env bash
# Echo, invoke-queue and actor benchmarks against their peers, in one run, alternating.
#   bash bench/run.sh [rounds] [seconds]      (defaults: 5 rounds of 3 s)
# Servers run on CPU 0, the load generator on CPU 1 (taskset). Prints medians and ratios;
# bench/README.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-3}
bash scripts/deps.sh
# The actor peer: CAF 0.17 from Debian.
dpkg-query -W -f='${Status}' libcaf-dev 2>/dev/null | grep -q "install ok installed" ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libcaf-dev >/dev/null; }
cmake --preset bench >/dev/null
cmake --build --preset bench >/dev/null
bin=build/bench/bin
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

start_server() {  # name -> sets PID and PORT
  local name=$1
  case $name in
    ringactor) taskset -c 0 $bin/echo --port 0 --idle-timeout-ms 0 >"$tmp/$name.out" 2>&1 & ;;
    epoll) taskset -c 0 $bin/epoll_echo --port 0 >"$tmp/$name.out" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do grep -q listening "$tmp/$name.out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(grep -o '[0-9]*$' "$tmp/$name.out" | head -1)
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A res
hz=$(getconf CLK_TCK)
for scenario in "1 64" "256 64" "256 4096"; do
  set -- $scenario
  conns=$1 size=$2
  for round in $(seq "$rounds"); do
    for server in ringactor epoll; do
      start_server $server
      t0=$(cpu_ticks $PID)
      out=$(taskset -c 1 $bin/echo_load rtt --port "$PORT" --conns "$conns" --size "$size" --seconds "$secs")
      t1=$(cpu_ticks $PID)
      kill -TERM $PID; wait $PID 2>/dev/null || true
      rps=$(awk '{print $2}' <<<"$out")
      p99=$(awk '{print $6}' <<<"$out")
      cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v r="$rps" -v s="$secs" 'BEGIN {printf "%.2f", d / hz * 1e6 / (r * s)}')
      res["$scenario $server rps"]+="$rps "
      res["$scenario $server p99"]+="$p99 "
      res["$scenario $server cpu"]+="$cpu_us "
    done
  done
done

echo "echo round trips, medians of $rounds alternating rounds of ${secs}s (server CPU 0, load CPU 1)"
printf "%-22s %14s %14s %8s   %s\n" "scenario" "ringactor rt/s" "epoll rt/s" "ratio" "p99 us (ours/epoll), server CPU us per rt (ours/epoll)"
for scenario in "1 64" "256 64" "256 4096"; do
  set -- $scenario
  a=$(tr ' ' '\n' <<<"${res["$scenario ringactor rps"]}" | grep . | median)
  b=$(tr ' ' '\n' <<<"${res["$scenario epoll rps"]}" | grep . | median)
  ap=$(tr ' ' '\n' <<<"${res["$scenario ringactor p99"]}" | grep . | median)
  bp=$(tr ' ' '\n' <<<"${res["$scenario epoll p99"]}" | grep . | median)
  ac=$(tr ' ' '\n' <<<"${res["$scenario ringactor cpu"]}" | grep . | median)
  bc=$(tr ' ' '\n' <<<"${res["$scenario epoll cpu"]}" | grep . | median)
  printf "%-22s %14.0f %14.0f %8.2f   %s/%s, %s/%s\n" "$1 conn x $2 B" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')" "$ap" "$bp" "$ac" "$bc"
done

echo
echo "memory per idle keep-alive connection (10,000 clients, server RSS delta / connections)"
for server in ringactor epoll; do
  vals=""
  for round in $(seq 3); do
    start_server $server
    out=$(taskset -c 1 $bin/echo_load idle --port "$PORT" --conns 10000 --pid "$PID" --warm 64)
    kill -TERM $PID; wait $PID 2>/dev/null || true
    vals+="$(awk '{print $8}' <<<"$out") "
  done
  printf "%-10s bytes/connection: median %s (runs: %s)\n" "$server" "$(tr ' ' '\n' <<<"$vals" | grep . | median)" "$vals"
done

echo
taskset -c 0,1 $bin/invoke_bench "$rounds" 2>/dev/null

echo
taskset -c 0,1 $bin/actor_bench "$rounds" 2000000 2>/dev/null
