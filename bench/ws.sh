#!/usr/bin/env bash
# WebSocket against the uWebSockets peer, in one run, alternating, driven by bench/loadgen:
#   echo-64   256 connections, 64-byte messages, one in flight each (/ws/echo)
#   echo-4k   256 connections, 4 KiB messages
#   fanout    rooms of 500 members (/ws/room/<name>), every member publishing 64-byte
#             messages at --rate per second: each publish is delivered to the 500 members
#   bash bench/ws.sh [--servers "ringactor uws uws-uring"] [--rooms R] [--rate X] [rounds] [seconds]
#   (defaults: ringactor and uws (epoll): uws-uring, uSockets' io_uring backend, garbles
#   WebSocket echoes here (loadgen reports bad_payload), 4 rooms, 0.5 publishes/s per member = 1,000 publishes/s and
#   500,000 deliveries/s in all, 3 rounds of 5 s)
# Servers run on CPU 0, loadgen on CPU 1. The figure is server CPU time (utime+stime from
# /proc/PID/stat over the run) per message echoed, or per message delivered for fanout,
# and deliveries per server CPU-second; medians of the rounds, with p99 latency (echo:
# round trip; fanout: publish to delivery at every member).
set -euo pipefail
cd "$(dirname "$0")/.."
servers_arg=${SERVERS:-"ringactor uws"}
rooms=4
rate=0.5
args=()
while (($#)); do
  case $1 in
    --servers) servers_arg=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "ws.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
rounds=${args[0]:-3}
secs=${args[1]:-5}
read -ra servers <<<"$servers_arg"
for s in "${servers[@]}"; do
  [[ $s =~ ^(ringactor|uws|uws-uring)$ ]] || { echo "ws.sh: unknown server '$s'" >&2; exit 2; }
done
bash scripts/deps.sh
[[ -x /tmp/uws-peer/uws-peer && -x /tmp/uws-peer/uws-peer-uring ]] || bash ../shared/peers/uws/build.sh /tmp/uws-peer >/dev/null
cmake --preset bench >/dev/null
cmake --build --preset bench --target hello loadgen >/dev/null
bin=build/bench/bin
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=18095
start() {
  case $1 in
    ringactor) taskset -c 0 $bin/hello --port $port --idle-timeout-ms 0 >"$tmp/out" 2>&1 & ;;
    uws) taskset -c 0 /tmp/uws-peer/uws-peer --port $port >"$tmp/out" 2>&1 & ;;
    uws-uring) taskset -c 0 /tmp/uws-peer/uws-peer-uring --port $port >"$tmp/out" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
jget() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
hz=$(getconf CLK_TCK)
members=$((rooms * 500))
declare -A res
for round in $(seq "$rounds"); do
  for scenario in echo-64 echo-4k fanout; do
    for server in "${servers[@]}"; do
      start "$server"
      case $scenario in
        echo-64) cmd=(ws-echo -c 256 --size 64 "ws://127.0.0.1:$port/ws/echo") ;;
        echo-4k) cmd=(ws-echo -c 256 --size 4096 "ws://127.0.0.1:$port/ws/echo") ;;
        fanout) cmd=(ws-rooms -c "$members" --rooms "$rooms" --rate "$rate" --size 64 "ws://127.0.0.1:$port/ws/room/") ;;
      esac
      t0=$(cpu_ticks "$PID")
      out=$(taskset -c 1 $bin/loadgen "${cmd[@]}" -d "${secs}s" --no-progress 2>&1 | tail -1)
      t1=$(cpu_ticks "$PID")
      stop
      n=$(jget requests "$out")
      [[ $(jget total "$out") == 0 && -n $n && $n != 0 ]] || { echo "ws.sh: $server $scenario failed: $out" >&2; exit 1; }
      us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.3f", t / hz * 1e6 / n}')
      res[$scenario,$server,us]+="$us "
      res[$scenario,$server,rate]+="$(jget rps "$out") "
      res[$scenario,$server,p99]+="$(sed -n 's/.*"p99":\([0-9.]*\).*/\1/p' <<<"$out") "
    done
  done
done
echo "WebSocket, medians of $rounds alternating rounds of ${secs}s (server CPU 0, loadgen CPU 1; $(date +%F))"
printf "%-9s %-10s %12s %14s %12s %14s\n" scenario server "msgs/s" "CPU us/msg" "p99 us" "msgs/CPU-s"
for scenario in echo-64 echo-4k fanout; do
  for server in "${servers[@]}"; do
    us=$(tr ' ' '\n' <<<"${res[$scenario,$server,us]}" | grep . | median)
    printf "%-9s %-10s %12.0f %14s %12.0f %14.0f\n" "$scenario" "$server" \
      "$(tr ' ' '\n' <<<"${res[$scenario,$server,rate]}" | grep . | median)" "$us" \
      "$(tr ' ' '\n' <<<"${res[$scenario,$server,p99]}" | grep . | median)" "$(awk -v u="$us" 'BEGIN {print 1e6 / u}')"
  done
done
