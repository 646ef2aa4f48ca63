#!/usr/bin/env bash
# HTTP hello-world against nginx, in one run, alternating: wrk keep-alive (256 connections)
# and pipelined (depth 16, bench/pipeline.lua) on GET /plaintext. bench/floor_http (a canned
# answer per request end, nothing else) runs in the same rotation: what wrk and the kernel
# allow at all on this machine.
#   bash bench/http.sh [rounds] [seconds]      (defaults: 5 rounds of 5 s)
# Servers run on CPU 0, wrk on CPU 1 (taskset). Prints medians of requests/s, p99 latency
# and server CPU time per request (from /proc/PID/stat), and the ratios. bench/README.md
# records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-5}
bash scripts/deps.sh
need=()
for p in wrk nginx-light; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})) && ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
elif ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
cmake --preset bench >/dev/null
cmake --build --preset bench --target hello floor_http >/dev/null
bin=build/bench/bin
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
    floor)
      taskset -c 0 $bin/floor_http --port 0 --body-bytes 13 >"$tmp/floor.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$tmp/floor.out" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -o '[0-9]*$' "$tmp/floor.out" | head -1) ;;
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
}
stop_server() {
  case $1 in
    ringactor|floor) kill -TERM "$PID"; wait "$PID" 2>/dev/null || true ;;
    nginx) kill -QUIT "$(cat "$tmp/nginx.pid")"; wait 2>/dev/null || true; rm -f "$tmp/nginx.pid" ;;
  esac
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
to_us() {  # wrk latency like 1.23ms / 456.00us / 1.20s -> microseconds
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'
}

declare -A res
hz=$(getconf CLK_TCK)
modes=("keepalive" "pipelined")
for mode in "${modes[@]}"; do
  for round in $(seq "$rounds"); do
    for server in ringactor nginx floor; do
      start_server $server
      script=()
      [[ $mode == pipelined ]] && script=(-s bench/pipeline.lua)
      t0=$(cpu_ticks "$PID")
      out=$(taskset -c 1 wrk -t1 -c256 -d"${secs}s" --latency "${script[@]}" "http://127.0.0.1:$PORT/plaintext")
      t1=$(cpu_ticks "$PID")
      stop_server $server
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      total=$(awk '/requests in/ {print $1}' <<<"$out")
      # wrk records one latency per write; with pipelining its 99% line reads 0, so the
      # pipelined mode reports the 90th percentile instead.
      pct="99%"; [[ $mode == pipelined ]] && pct="90%"
      p99=$(awk -v p="$pct" '$1 == p {print $2}' <<<"$out" | to_us)
      bad=$(awk '/Non-2xx|Socket errors/' <<<"$out")
      [[ -n $bad ]] && echo "warning: $server $mode: $bad" >&2
      cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.3f", d / hz * 1e6 / n}')
      res["$mode $server rps"]+="$rps "
      res["$mode $server p99"]+="$p99 "
      res["$mode $server cpu"]+="$cpu "
    done
  done
done

echo "GET /plaintext, wrk -t1 -c256, medians of $rounds alternating rounds of ${secs}s (server CPU 0, wrk CPU 1)"
printf "%-10s %14s %14s %7s   %-26s %-22s %12s %10s\n" "mode" "ringactor r/s" "nginx r/s" "ratio" "p99|p90 us (ours/nginx)" \
  "CPU us/req (ours/nginx)" "floor r/s" "floor CPU"
for mode in "${modes[@]}"; do
  m() { tr ' ' '\n' <<<"${res["$mode $1 $2"]}" | grep . | median; }
  a=$(m ringactor rps) b=$(m nginx rps)
  printf "%-10s %14.0f %14.0f %7.2f   %-26s %-22s %12.0f %10s\n" "$mode" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')" \
    "$(m ringactor p99) / $(m nginx p99)" "$(m ringactor cpu) / $(m nginx cpu)" "$(m floor rps)" "$(m floor cpu)"
done
