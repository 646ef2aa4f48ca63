#!/usr/bin/env bash
# Players per core in demos/arena: the server (reactor and its worker arena) on CPU 0,
# arena_bots on CPU 1. For each room size, the number of players doubles until a step fails
# (p99 input-to-visible-effect latency over 100 ms, a tick overrun, the server's core full,
# a bot error), then the steps bisect between the last pass and that failure until the gap
# is under 1/R of the pass (at most R steps). Each step is a fresh server with long rounds,
# bots joining first (rooms fill with bots only, no waiting), then SECONDS measured.
#   bash bench/arena.sh [--server ringactor|colyseus] [--seats "4 8 16"] [--units N]
#                       [--start P] [--max P] [--refine R] [seconds]
#   (defaults: ringactor, rooms of 4, 8 and 16, 48 units per player, from 64 up to 8192
#   players, R = 8, 10 s). --server colyseus runs the same rules on Colyseus 0.16
#   (bench/peers/colyseus, npm packages installed into build/peers/colyseus) with its own
#   bots (colyseus.js, bench/peers/colyseus/bots.js), node on the same cores.
# Per step: players, server CPU (utime+stime from /proc/PID/stat) as % of a core and per
# player-tick, p50/p99 latency, frames and bytes per player per second, tick jitter p99,
# overruns (arena_tick_overruns_total from /metrics). The last step under every limit is
# the room size's players per core.
set -euo pipefail
cd "$(dirname "$0")/.."
seats_arg="4 8 16"
server=ringactor
units=48
start=64
max=8192
refine=8
args=()
while (($#)); do
  case $1 in
    --seats) seats_arg=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --units) units=$2; shift 2 ;;
    --start) start=$2; shift 2 ;;
    --max) max=$2; shift 2 ;;
    --refine) refine=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "arena.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
secs=${args[0]:-10}
read -ra seat_sizes <<<"$seats_arg"
[[ $server =~ ^(ringactor|colyseus)$ ]] || { echo "arena.sh: --server is ringactor or colyseus" >&2; exit 2; }
bash scripts/deps.sh
bin=build/bench/bin
peer=build/peers/colyseus
if [[ $server == ringactor ]]; then
  cmake --preset bench >/dev/null
  cmake --build --preset bench --target arena arena_bots >/dev/null
else
  mkdir -p "$peer"
  cp bench/peers/colyseus/{package.json,sim.js,server.js,bots.js} "$peer/"
  [[ -d $peer/node_modules/@colyseus/core ]] || (cd "$peer" && npm install --no-audit --no-fund >/dev/null)
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=18097
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
jget() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
metric() {
  local out
  out=$(curl -s "http://127.0.0.1:$port/metrics" || true)  # (the Colyseus peer has none)
  awk -v m="$1" '$1 == m {print $2}' <<<"$out"
}

echo "server: $server (CPU 0); bots on CPU 1 (bots% = their CPU: near 100 means the bots, not the server, set the limit)"
printf '%-6s %-8s %-7s %-10s %-9s %-9s %-9s %-10s %-10s %-8s %-6s\n' seats players cpu% us/p-tick p50-ms p99-ms frames/s bytes/s jit99-ms overruns bots%
for seats in "${seat_sizes[@]}"; do
  best=0 fail=0 refined=0
  players=$start
  while ((players <= max || fail > 0)); do
    n=$(((players + seats - 1) / seats * seats))  # whole rooms
    # A fresh server; the bots run 2 s of seating and countdown (not measured), then SECONDS.
    rm -f "$tmp/board.db"*
    if [[ $server == ringactor ]]; then
      taskset -c 0 $bin/arena --port $port --db "$tmp/board.db" --seats "$seats" --units "$units" \
        --countdown-ms 1000 --round-ms 600000 --bot-wait-ms 60000 --max-connections $((n + 64)) >"$tmp/server" 2>&1 &
    else
      taskset -c 0 node "$peer/server.js" $port "$seats" "$units" >"$tmp/server" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    if [[ $server == ringactor ]]; then
      taskset -c 1 $bin/arena_bots -c "$n" -d "$((secs + 2))s" --no-progress "ws://127.0.0.1:$port/ws" >"$tmp/bots" 2>&1 &
      bots=$!
      sleep 2
    else
      # colyseus.js bots measure SECONDS themselves once every bot joined and the countdowns ended.
      taskset -c 1 node "$peer/bots.js" "ws://127.0.0.1:$port" "$n" "$secs" 1000 >"$tmp/bots" 2>"$tmp/bots.err" &
      bots=$!
      for _ in $(seq 1200); do grep -q measuring "$tmp/bots.err" 2>/dev/null && break; sleep 0.1; done
    fi
    # The CPU samples sit right next to the clock's: a loaded server answers /metrics slowly.
    o0=0 o1=0
    if [[ $server == ringactor ]]; then o0=$(metric arena_tick_overruns_total); fi
    c0=$(cpu_ticks $pid)
    b0=$(cpu_ticks $bots)
    t0=$(date +%s.%N)
    sleep "$secs"
    c1=$(cpu_ticks $pid)
    b1=$(cpu_ticks $bots 2>/dev/null || echo "$b0")
    t1=$(date +%s.%N)
    if [[ $server == ringactor ]]; then o1=$(metric arena_tick_overruns_total); fi
    wait $bots || true
    kill -TERM $pid; wait $pid 2>/dev/null || true
    json=$(tail -1 "$tmp/bots")
    el=$(echo "$t1 - $t0" | bc -l)
    cpu=$(echo "($c1 - $c0) / $hz / $el * 100" | bc -l)
    bcpu=$(echo "($b1 - $b0) / $hz / $el * 100" | bc -l)
    per=$(echo "($c1 - $c0) / $hz * 1000000 / ($n * $el * 20)" | bc -l)
    if [[ $server == ringactor ]]; then
      p50=$(sed -n 's/.*"latency_us":{[^}]*"p50":\([0-9.]*\).*/\1/p' <<<"$json")
      p99=$(sed -n 's/.*"latency_us":{[^}]*"p99":\([0-9.]*\).*/\1/p' <<<"$json")
      jit=$(sed -n 's/.*"jitter_us":{[^}]*"p99":\([0-9.]*\).*/\1/p' <<<"$json")
      bps=$(jget bytes_per_player_s "$json")
      over=$((${o1:-0} - ${o0:-0}))
    else
      p50=$(echo "$(sed -n 's/.*"latency_ms":{"p50":\([0-9.]*\).*/\1/p' <<<"$json") * 1000" | bc -l)
      p99=$(echo "$(sed -n 's/.*"latency_ms":{[^}]*"p99":\([0-9.]*\).*/\1/p' <<<"$json") * 1000" | bc -l)
      jit=$(echo "$(sed -n 's/.*"jitter_ms":{"p99":\([0-9.]*\).*/\1/p' <<<"$json") * 1000" | bc -l)
      bps=0
      over=0
    fi
    fps=$(jget frames_per_player_s "$json")
    errors=$(sed -n 's/.*"errors":{"total":\([0-9]*\).*/\1/p; s/.*"errors":\([0-9]*\).*/\1/p' <<<"$json" | head -1)
    printf '%-6s %-8s %-7.1f %-10.3f %-9.2f %-9.2f %-9.1f %-10.0f %-10.2f %-8s %-6.0f%s\n' "$seats" "$n" "$cpu" "$per" \
      "$(echo "${p50:-0} / 1000" | bc -l)" "$(echo "${p99:-0} / 1000" | bc -l)" "${fps:-0}" "${bps:-0}" \
      "$(echo "${jit:-0} / 1000" | bc -l)" "$over" "$bcpu" "$([[ ${errors:-1} != 0 ]] && echo "  ($errors bot errors)")"
    # Colyseus has no overrun counter: a late simulation shows as fewer than 19 patches a second.
    pass=1
    if [[ $server == colyseus ]] && (( $(echo "${fps:-0} < 19" | bc -l) )); then pass=0; fi
    if [[ $over != 0 ]] || (( $(echo "${p99:-1e12} > 100000" | bc -l) )) || (( $(echo "$cpu > 97" | bc -l) )) ||
      [[ ${errors:-1} != 0 ]]; then
      pass=0
    fi
    if ((pass)); then best=$n; else fail=$n; fi
    if ((fail == 0)); then
      players=$((players * 2))
      continue
    fi
    # Between the last step that passed and the first that failed: halve the gap (whole
    # rooms) until it is at most 1/REFINE of the pass, or REFINE steps were taken.
    if ((best == 0 || refined >= refine || (fail - best) * refine <= best || fail - best <= seats)); then break; fi
    players=$(((best + fail) / 2 / seats * seats))
    refined=$((refined + 1))
  done
  echo "rooms of $seats: $best players per core (the last step under every limit; ${fail:-0} failed)"
done
