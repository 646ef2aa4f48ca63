#!/usr/bin/env bash
# HTTP hello-world against nginx, in one run, alternating: keep-alive (256 connections) and
# pipelined (depth 16) GET /plaintext, driven by bench/loadgen (io_uring; it outruns wrk, see
# bench/README.md). bench/floor_http (a canned answer per request end, nothing else) runs in
# the same rotation: what the kernel allows at all on this machine, and bench/floor_uring (the
# same on io_uring: fixed files, multishot receive, ring sends), the line under any io_uring
# server. One more row drives the epoll floor with wrk (pipelined with bench/pipeline.lua) as a
# cross-check of loadgen's figures.
#   bash bench/http.sh [--servers "ringactor uws uws-uring nginx floor floor-uring floor-wrk"] [rounds] [seconds]
#   (defaults: all seven, 5 rounds of 5 s; SERVERS="..." in the environment works too)
# uws / uws-uring are the uWebSockets peer (epoll / uSockets' io_uring backend), built from
# ../shared/peers/uws into /tmp/uws-peer when missing.
# Servers run on CPU 0, the load generator on CPU 1 (taskset). Prints medians of requests/s,
# p99 latency, server CPU time per request (utime+stime from /proc/PID/stat over the run,
# divided by the answers counted: the primary figure) and the load generator's own CPU time
# per request, and the ratios to nginx. With uws-uring in the run, a last column gives each
# server's CPU per request over uws-uring's *in the same round*, as the median of those
# per-round ratios: this machine's speed drifts by up to 1.5x within an hour, which moves
# separate medians apart but cancels out of a paired ratio. bench/README.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
servers_arg=${SERVERS:-"ringactor uws uws-uring nginx floor floor-uring floor-wrk"}
args=()
while (($#)); do
  case $1 in
    --servers) servers_arg=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "http.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
rounds=${args[0]:-5}
secs=${args[1]:-5}
read -ra servers <<<"$servers_arg"
for s in "${servers[@]}"; do
  [[ $s =~ ^(ringactor|uws|uws-uring|nginx|floor|floor-uring|floor-wrk)$ ]] || { echo "http.sh: unknown server '$s'" >&2; exit 2; }
done
has() { [[ " ${servers[*]} " == *" $1 "* ]]; }
bash scripts/deps.sh
need=()
has floor-wrk && need+=(wrk)
has nginx && need+=(nginx-light)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if has uws || has uws-uring; then
  [[ -x /tmp/uws-peer/uws-peer && -x /tmp/uws-peer/uws-peer-uring ]] || bash ../shared/peers/uws/build.sh /tmp/uws-peer >/dev/null
fi
targets=(floor_http floor_uring loadgen)
has ringactor && targets+=(hello)
cmake --preset bench >/dev/null
cmake --build --preset bench --target "${targets[@]}" >/dev/null
bin=build/bench/bin
[[ -x $bin/loadgen ]] || { echo "http.sh: $bin/loadgen was not built (libssl-dev missing? run scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -f $tmp/nginx.pid ]] && kill "$(cat $tmp/nginx.pid)" 2>/dev/null; rm -rf "$tmp"' EXIT
nginx_port=18080
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF

start_server() {  # name -> sets PID (the process doing the work) and PORT
  case $1 in
    ringactor)
      taskset -c 0 $bin/hello --port 0 --idle-timeout-ms 0 >"$tmp/hello.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$tmp/hello.out" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -o '[0-9]*$' "$tmp/hello.out" | head -1) ;;
    uws|uws-uring)
      exe=/tmp/uws-peer/uws-peer
      [[ $1 == uws-uring ]] && exe=/tmp/uws-peer/uws-peer-uring
      PORT=18097
      taskset -c 0 "$exe" --port $PORT >"$tmp/uws.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done ;;
    floor|floor-wrk|floor-uring)
      exe=floor_http
      [[ $1 == floor-uring ]] && exe=floor_uring
      taskset -c 0 $bin/$exe --port 0 --body-bytes 13 >"$tmp/$exe.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$tmp/$exe.out" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -o '[0-9]*$' "$tmp/$exe.out" | head -1) ;;
    nginx)
      taskset -c 0 "$nginx_bin" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
      worker=
      for _ in $(seq 100); do
        if [[ -s $tmp/nginx.pid ]]; then
          worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" 2>/dev/null | head -1 || true)
          [[ -n $worker ]] && break
        fi
        sleep 0.05
      done
      [[ -n $worker ]] || { echo "nginx did not start: $(cat "$tmp/nginx.err" 2>/dev/null)" >&2; exit 1; }
      PID=$worker
      PORT=$nginx_port ;;
  esac
  [[ -n $PORT ]] && kill -0 "$PID" 2>/dev/null || { echo "http.sh: $1 did not start" >&2; exit 1; }
}
stop_server() {
  case $1 in
    ringactor|uws|uws-uring|floor|floor-uring|floor-wrk) kill -TERM "$PID"; wait "$PID" 2>/dev/null || true ;;
    nginx) kill -QUIT "$(cat "$tmp/nginx.pid")"; wait 2>/dev/null || true; rm -f "$tmp/nginx.pid" ;;
  esac
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
to_us() {  # wrk latency like 1.23ms / 456.00us / 1.20s -> microseconds
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'
}
jget() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }  # a number from loadgen's JSON line
secs_of() { awk '{for (i = 1; i <= NF; ++i) {split($i, t, /[ms]/); s += t[1] * 60 + t[2]}} END {print s}' <<<"$1"; }  # "0m1.2s 0m0.3s" -> 1.5

declare -A res
hz=$(getconf CLK_TCK)
modes=("keepalive" "pipelined")
for mode in "${modes[@]}"; do
  depth=1
  [[ $mode == pipelined ]] && depth=16
  for round in $(seq "$rounds"); do
    for server in "${servers[@]}"; do
      start_server "$server"
      url="http://127.0.0.1:$PORT/plaintext"
      t0=$(cpu_ticks "$PID")
      if [[ $server == floor-wrk ]]; then
        script=()
        [[ $mode == pipelined ]] && script=(-s bench/pipeline.lua)
        # `times` gives wrk's own CPU time (the children of this shell).
        out=$(taskset -c 1 bash -c 'wrk "$@"; times' _ -t1 -c256 -d"${secs}s" --latency "${script[@]}" "$url")
        t1=$(cpu_ticks "$PID")
        stop_server "$server"
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        total=$(awk '/requests in/ {print $1}' <<<"$out")
        # wrk records one latency per write, so with pipelining its percentiles read 0: the
        # table prints n/a for them (loadgen times every request from its batch's send).
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)
        gen=$(awk -v s="$(secs_of "$(tail -1 <<<"$out")")" -v n="$total" 'BEGIN {printf "%.3f", s * 1e6 / n}')
        bad=$(awk '/Non-2xx|Socket errors/' <<<"$out")
        [[ -n $bad ]] && echo "warning: $server $mode round $round: $bad" >&2
      else
        rc=0
        out=$(taskset -c 1 $bin/loadgen -c 256 -p "$depth" -d "$secs" --no-progress "$url" | tail -1) || rc=$?
        t1=$(cpu_ticks "$PID")
        stop_server "$server"
        if ((rc >= 2)) || [[ -z $(jget requests "$out") ]]; then
          echo "http.sh: loadgen failed against $server ($mode, round $round, exit $rc): $out" >&2; exit 1
        fi
        ((rc == 1)) && echo "warning: $server $mode round $round: errors $(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$out")" \
          "status $(sed -n 's/.*"status":{\([^}]*\)}.*/\1/p' <<<"$out")" >&2
        rps=$(jget rps "$out")
        total=$(jget requests "$out")
        p99=$(jget p99 "$out")
        gen=$(jget cpu_us_per_request "$out")
      fi
      [[ -n $total && $total != 0 ]] || { echo "http.sh: no answers from $server ($mode, round $round)" >&2; exit 1; }
      cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.3f", d / hz * 1e6 / n}')
      res["$mode $server rps"]+="$rps "
      res["$mode $server p99"]+="$p99 "
      res["$mode $server cpu"]+="$cpu "
      res["$mode $server gen"]+="$gen "
    done
  done
done

m() { tr ' ' '\n' <<<"${res["$1 $2 $3"]:-}" | { grep . || true; } | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }
# Median over rounds of (server's CPU per request / uws-uring's in the same round).
paired() {
  has uws-uring || { echo "-"; return; }
  local -a a b
  read -ra a <<<"${res["$1 $2 cpu"]:-}"
  read -ra b <<<"${res["$1 uws-uring cpu"]:-}"
  for i in "${!a[@]}"; do awk -v x="${a[i]}" -v y="${b[i]:-0}" 'BEGIN {if (y > 0) printf "%.4f\n", x / y}'; done |
    median | awk '{printf "%.2f", $1}'
}
for mode in "${modes[@]}"; do
  depth=1
  [[ $mode == pipelined ]] && depth=16
  echo
  echo "GET /plaintext, $mode (depth $depth), 256 connections, medians of $rounds alternating rounds of ${secs}s" \
    "(server CPU 0, load generator CPU 1)"
  printf "%-11s %-8s %12s %10s %14s %14s %10s %10s %12s\n" "server" "load" "req/s" "p99 us" "srv CPU us/r" \
    "gen CPU us/r" "r/s/nginx" "CPU/nginx" "CPU/uws-io*"
  nr= nc=
  if has nginx; then nr=$(m "$mode" nginx rps) nc=$(m "$mode" nginx cpu); fi
  for server in "${servers[@]}"; do
    name=$server load=loadgen p=$(m "$mode" "$server" p99 | awk '{printf "%.0f", $1}')
    [[ $server == floor-wrk ]] && name=floor load=wrk
    [[ $server == floor-wrk && $mode == pipelined ]] && p="n/a"  # see above: wrk's reads 0
    r=$(m "$mode" "$server" rps) c=$(m "$mode" "$server" cpu)
    printf "%-11s %-8s %12.0f %10s %14s %14s %10s %10s %12s\n" "$name" "$load" "$r" "$p" "$c" \
      "$(m "$mode" "$server" gen)" "$(ratio "$r" "${nr:-0}")" "$(ratio "$c" "${nc:-0}")" "$(paired "$mode" "$server")"
  done
done
if has uws-uring; then
  echo
  echo "* CPU/uws-io: median over rounds of (the server's CPU per request / uws-uring's in the same round)"
fi
