#!/usr/bin/env bash
# Memory per idle connection: HTTP keep-alive (after a request, and fresh) and WebSocket
# (/ws/echo, after one echo), hello beside nginx and the uWebSockets peer.
#   bash bench/idle_memory.sh [rounds] [connections]     (defaults: 3 rounds, 10,000)
# Each server starts fresh for each measurement, is warmed by 64 busy connections, then
# N connections are opened: "after a request" (each sent one GET /plaintext and read the
# answer) or "fresh" (accepted, nothing sent). The figure is the server's RSS growth over N
# (user-space memory: the kernel's socket buffers are not in RSS). Medians of `rounds`.
# The uWebSockets peer is built with ../shared/peers/uws/build.sh into /tmp/uws-peer.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
conns=${2:-10000}
bash scripts/deps.sh
dpkg-query -W -f='${Status}' nginx-light 2>/dev/null | grep -q "install ok installed" ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }
[[ -x /tmp/uws-peer/uws-peer ]] || bash ../shared/peers/uws/build.sh /tmp/uws-peer >/dev/null
cmake --preset bench >/dev/null
cmake --build --preset bench --target hello echo_load >/dev/null
bin=build/bench/bin
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -f $tmp/nginx.pid ]] && kill "$(cat $tmp/nginx.pid)" 2>/dev/null; rm -rf "$tmp"' EXIT
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err warn;
worker_rlimit_nofile 65536;
events { worker_connections 65536; }
http {
  access_log off;
  keepalive_timeout 3600s;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:18090;
    location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
start() {  # name -> PID (the process holding the connections) and PORT
  case $1 in
    ringactor)
      taskset -c 0 $bin/hello --port 0 --idle-timeout-ms 0 >"$tmp/out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -o '[0-9]*$' "$tmp/out" | head -1) ;;
    nginx)
      taskset -c 0 "$(command -v nginx || echo /usr/sbin/nginx)" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
      for _ in $(seq 100); do pgrep -P "$(cat "$tmp/nginx.pid" 2>/dev/null || echo 0)" >/dev/null 2>&1 && break; sleep 0.05; done
      PID=$(pgrep -P "$(cat "$tmp/nginx.pid")")  # the worker holds the connections
      PORT=18090 ;;
    uws)
      taskset -c 0 /tmp/uws-peer/uws-peer --port 18091 >/dev/null 2>&1 &
      PID=$!
      PORT=18091
      for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/18091) 2>/dev/null && break; sleep 0.05; done ;;
  esac
}
stop() {
  case $1 in
    nginx) kill "$(cat "$tmp/nginx.pid")"; while [[ -f $tmp/nginx.pid ]]; do sleep 0.05; done ;;
    *) kill -TERM "$PID"; wait "$PID" 2>/dev/null || true ;;
  esac
}
echo "bytes of server RSS per idle connection ($conns connections, medians of $rounds; $(date +%F))"
printf "%-10s %16s %10s %12s\n" server after-request fresh websocket
for server in ringactor nginx uws; do
  row=()
  for kind in request fresh websocket; do
    if [[ $kind == websocket && $server == nginx ]]; then
      row+=("-")  # nginx has no WebSocket endpoint of its own
      continue
    fi
    vals=""
    for _ in $(seq "$rounds"); do
      start $server
      if [[ $kind == websocket ]]; then
        out=$(taskset -c 1 $bin/echo_load ws-idle --port "$PORT" --conns "$conns" --pid "$PID" --warm 64)
      else
        out=$(taskset -c 1 $bin/echo_load http-idle --port "$PORT" --conns "$conns" --pid "$PID" --warm 64 \
          --fresh "$([[ $kind == fresh ]] && echo 1 || echo 0)")
      fi
      stop $server
      vals+="$(awk '{print $8}' <<<"$out") "
    done
    row+=("$(tr ' ' '\n' <<<"$vals" | grep . | median)")
  done
  printf "%-10s %16s %10s %12s\n" "$server" "${row[0]}" "${row[1]}" "${row[2]}"
done
