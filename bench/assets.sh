#!/usr/bin/env bash
# Static file serving against nginx, in one run, alternating: keep-alive GETs of a 1 KiB,
# a 64 KiB (64 connections each) and a 4 MiB file (8 connections), all served from one temp
# directory of random bytes, driven by bench/loadgen (io_uring; it outruns wrk, see
# bench/README.md). One more row, floor-wrk, drives the floor with wrk as a cross-check.
#   bash bench/assets.sh [options] [rounds] [seconds]      (defaults: 5 rounds of 5 s)
# Options (or the environment variables beside them, set to 1):
#   --revalidate-off  REVALIDATE_OFF=1  also run ringactor with --revalidate off, to measure
#                                       the per-request revalidation cost
#   --zero-copy       ZERO_COPY=1       also run ringactor with --zero-copy on (4m.bin only)
#   --splice          SPLICE=1          also run ringactor with --splice on (4m only: smaller files are baked)
# The 4 MiB file is also served with --memory-threshold 0 (ringactor-disk: through ring reads
# from the file instead of from the copy the snapshot holds in memory by default).
#   --all                               all of the above
#   --files "4m.bin"  FILES=...         measure only these of 1k.bin 64k.bin 4m.bin
#   --servers "ringactor uws"  SERVERS=...  measure only these servers (of those above)
# Peers: nginx (1 worker, sendfile, open_file_cache) and h2o (1 thread), both from Debian,
# the uWebSockets peer (uws: the root's files held in memory; built from ../shared/peers/uws
# into /tmp/uws-peer when missing), and bench/floor_http (the file's bytes in memory, no per-request work): the floor under any
# server on this harness.
# Servers run on CPU 0, the load generator on CPU 1 (taskset). Before every measurement one
# curl of each file must return it byte for byte, or the script stops. Prints, per file,
# medians of requests/s, GB/s (10^9 bytes: requests/s x file size), p99 latency, server CPU
# time per request (from /proc/PID/stat), the load generator's CPU time per request, and the
# ratios to nginx and h2o.
set -euo pipefail
cd "$(dirname "$0")/.."
norev=${REVALIDATE_OFF:-0}
zerocopy=${ZERO_COPY:-0}
splice=${SPLICE:-0}
only_files=${FILES:-}
only_servers=${SERVERS:-}
args=()
while (($#)); do
  case $1 in
    --revalidate-off) norev=1 ;;
    --zero-copy) zerocopy=1 ;;
    --splice) splice=1 ;;
    --all) norev=1 zerocopy=1 splice=1 ;;
    --files) only_files=${2:?--files needs a list}; shift ;;
    --servers) only_servers=${2:?--servers needs a list}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "assets.sh: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
rounds=${args[0]:-5}
secs=${args[1]:-5}
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: bash bench/assets.sh [--revalidate-off] [--zero-copy] [--splice] [--all] [rounds] [seconds]" >&2; exit 2; }
bash scripts/deps.sh
need=()
for p in wrk nginx-light h2o; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's h2o package starts a service on install; the benchmark runs its own copy.
systemctl stop h2o >/dev/null 2>&1 || true
pkill -x h2o >/dev/null 2>&1 || true
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x /tmp/uws-peer/uws-peer ]] || bash ../shared/peers/uws/build.sh /tmp/uws-peer >/dev/null
cmake --preset bench >/dev/null
cmake --build --preset bench --target static floor_http loadgen >/dev/null
bin=build/bench/bin
[[ -x $bin/static ]] || { echo "assets.sh: $bin/static was not built" >&2; exit 1; }
[[ -x $bin/loadgen ]] || { echo "assets.sh: $bin/loadgen was not built (libssl-dev missing? run scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -f $tmp/nginx.pid ]] && kill "$(cat $tmp/nginx.pid)" 2>/dev/null; rm -rf "$tmp"' EXIT
# nginx started as root serves as "nobody": the tree must be world-readable.
chmod 755 "$tmp"
www=$tmp/www
mkdir -m 755 "$www"
all_files=(1k.bin 64k.bin 4m.bin)
declare -A size=([1k.bin]=1024 [64k.bin]=65536 [4m.bin]=4194304)
declare -A conns=([1k.bin]=64 [64k.bin]=64 [4m.bin]=8)
files=("${all_files[@]}")
if [[ -n $only_files ]]; then
  read -ra files <<<"$only_files"
  for f in "${files[@]}"; do
    [[ -n ${size[$f]:-} ]] || { echo "assets.sh: unknown file $f (of ${all_files[*]})" >&2; exit 2; }
  done
fi
for f in "${all_files[@]}"; do
  head -c "${size[$f]}" /dev/urandom >"$www/$f"
  chmod 644 "$www/$f"
done

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
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    root $www;
  }
}
CONF

h2o_port=18082
cat >"$tmp/h2o.conf" <<CONF
listen:
  host: 127.0.0.1
  port: $h2o_port
num-threads: 1
user: nobody
error-log: $tmp/h2o.err
hosts:
  default:
    paths:
      /:
        file.dir: $www
CONF

start_server() {  # name -> sets PID (the process doing the work) and PORT
  case $1 in
    ringactor*)
      local extra=()
      case $1 in
        ringactor-norev) extra=(--revalidate off) ;;
        ringactor-zc) extra=(--zero-copy on --memory-threshold 0) ;;
        ringactor-splice) extra=(--splice on --memory-threshold 0) ;;
        ringactor-disk) extra=(--memory-threshold 0) ;;
      esac
      local log=$tmp/$1.out
      taskset -c 0 $bin/static --root "$www" --port 0 "${extra[@]}" >"$log" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$log" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -m1 listening "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
      if [[ -z $PORT ]] || ! kill -0 "$PID" 2>/dev/null; then
        echo "assets.sh: $1 did not start: $(cat "$log" 2>/dev/null)" >&2; exit 1
      fi ;;
    floor|floor-wrk)
      # The file's bytes held in memory and written with no per-request work; for the large
      # file at most 256 KiB per writev and TCP_NOTSENT_LOWAT 32 KiB, the fastest way of
      # sending it found here (one writev of all 4 MiB gives ~2.9 GB/s).
      local fl=(--file "$www/$cur_file")
      [[ $cur_file == 4m.bin ]] && fl+=(--chunk 262144 --notsent-lowat 32768)
      taskset -c 0 $bin/floor_http --port 0 "${fl[@]}" >"$tmp/floor.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do grep -q listening "$tmp/floor.out" 2>/dev/null && break; sleep 0.05; done
      PORT=$(grep -m1 listening "$tmp/floor.out" 2>/dev/null | grep -o '[0-9]*$' || true)
      [[ -n $PORT ]] || { echo "assets.sh: floor_http did not start: $(cat "$tmp/floor.out")" >&2; exit 1; } ;;
    nginx)
      taskset -c 0 "$nginx_bin" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
      local worker=
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
    uws)
      PORT=18083
      taskset -c 0 /tmp/uws-peer/uws-peer --port $PORT --root "$www" >"$tmp/uws.out" 2>&1 &
      PID=$!
      for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/1k.bin" && break; sleep 0.05; done
      kill -0 "$PID" 2>/dev/null || { echo "uws-peer did not start: $(cat "$tmp/uws.out" 2>/dev/null)" >&2; exit 1; } ;;
    h2o)
      taskset -c 0 h2o -c "$tmp/h2o.conf" >/dev/null 2>&1 &
      PID=$!
      PORT=$h2o_port
      for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/1k.bin" && break; sleep 0.05; done
      kill -0 "$PID" 2>/dev/null || { echo "h2o did not start: $(cat "$tmp/h2o.err" 2>/dev/null)" >&2; exit 1; } ;;
  esac
}
stop_server() {
  case $1 in
    ringactor*|floor*) kill -TERM "$PID"; wait "$PID" 2>/dev/null || true ;;
    nginx) kill -QUIT "$(cat "$tmp/nginx.pid")"; wait 2>/dev/null || true; rm -f "$tmp/nginx.pid" ;;
    h2o|uws) kill -TERM "$PID"; wait "$PID" 2>/dev/null || true ;;
  esac
}
check_files() {  # server name: one curl of each file must return exactly its bytes
  local f got list=("${all_files[@]}")
  [[ $1 == floor* ]] && list=("$cur_file")  # it answers every path with the one file
  for f in "${list[@]}"; do
    got=$(curl -sS --max-time 10 -o "$tmp/got" -w '%{http_code} %{size_download}' "http://127.0.0.1:$PORT/$f" 2>&1 || true)
    if [[ $got != "200 ${size[$f]}" ]] || ! cmp -s "$tmp/got" "$www/$f"; then
      echo "assets.sh: FAILED sanity check: $1 GET /$f gave '$got', expected '200 ${size[$f]}'" \
           "$(cmp -s "$tmp/got" "$www/$f" 2>/dev/null || echo '(body differs)')" >&2
      exit 1
    fi
  done
  rm -f "$tmp/got"
}
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
# CPU 0's busy time (user, nice, system, irq, softirq, steal): also counts the kernel work
# done for the server outside its own process time (softirq of sendfile/splice transmits).
core0_ticks() { awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
to_us() {  # wrk latency like 1.23ms / 456.00us / 1.20s -> microseconds
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'
}
jget() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }  # a number from loadgen's JSON line
secs_of() { awk '{for (i = 1; i <= NF; ++i) {split($i, t, /[ms]/); s += t[1] * 60 + t[2]}} END {print s}' <<<"$1"; }  # "0m1.2s 0m0.3s" -> 1.5
servers_for() {  # file -> the servers measured on it, in the order they alternate
  local s=(ringactor)
  ((norev)) && s+=(ringactor-norev)
  ((zerocopy)) && [[ $1 == 4m.bin ]] && s+=(ringactor-zc)
  [[ $1 == 4m.bin ]] && s+=(ringactor-disk)
  ((splice)) && [[ $1 == 4m.bin ]] && s+=(ringactor-splice)
  s+=(uws h2o nginx floor floor-wrk)
  if [[ -n $only_servers ]]; then
    local keep=() x
    for x in "${s[@]}"; do [[ " $only_servers " == *" $x "* ]] && keep+=("$x"); done
    s=("${keep[@]}")
  fi
  echo "${s[@]}"
}

declare -A res
hz=$(getconf CLK_TCK)
for f in "${files[@]}"; do
  read -ra servers <<<"$(servers_for "$f")"
  cur_file=$f
  for round in $(seq "$rounds"); do
    for server in "${servers[@]}"; do
      start_server "$server"
      check_files "$server"
      t0=$(cpu_ticks "$PID") k0=$(core0_ticks)
      url="http://127.0.0.1:$PORT/$f"
      if [[ $server == floor-wrk ]]; then
        # `times` gives wrk's own CPU time (the children of this shell).
        out=$(taskset -c 1 bash -c 'wrk "$@"; times' _ -t1 -c"${conns[$f]}" -d"${secs}s" --latency "$url")
        t1=$(cpu_ticks "$PID") k1=$(core0_ticks)
        stop_server "$server"
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        total=$(awk '/requests in/ {print $1}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)
        if [[ -z $rps || -z $total || -z $p99 || $total == 0 ]]; then
          echo "assets.sh: wrk gave no result for $server /$f (round $round):" >&2; echo "$out" >&2; exit 1
        fi
        gen=$(awk -v s="$(secs_of "$(tail -1 <<<"$out")")" -v n="$total" 'BEGIN {printf "%.3f", s * 1e6 / n}')
        bad=$(awk '/Non-2xx|Socket errors/' <<<"$out")
        [[ -n $bad ]] && echo "warning: $server /$f round $round: $bad" >&2
      else
        rc=0
        out=$(taskset -c 1 $bin/loadgen -c "${conns[$f]}" -d "$secs" --no-progress "$url" | tail -1) || rc=$?
        t1=$(cpu_ticks "$PID") k1=$(core0_ticks)
        stop_server "$server"
        rps=$(jget rps "$out") total=$(jget requests "$out") p99=$(jget p99 "$out") gen=$(jget cpu_us_per_request "$out")
        if ((rc >= 2)) || [[ -z $rps || -z $total || -z $p99 || $total == 0 ]]; then
          echo "assets.sh: loadgen gave no result for $server /$f (round $round, exit $rc): $out" >&2; exit 1
        fi
        ((rc == 1)) && echo "warning: $server /$f round $round: errors $(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$out")" \
          "status $(sed -n 's/.*"status":{\([^}]*\)}.*/\1/p' <<<"$out")" >&2
      fi
      cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.3f", d / hz * 1e6 / n}')
      core=$(awk -v d=$((k1 - k0)) -v hz="$hz" -v n="$total" 'BEGIN {printf "%.3f", d / hz * 1e6 / n}')
      res["$f $server core"]+="$core "
      gbps=$(awk -v r="$rps" -v s="${size[$f]}" 'BEGIN {printf "%.3f", r * s / 1e9}')
      res["$f $server rps"]+="$rps "
      res["$f $server gbps"]+="$gbps "
      res["$f $server p99"]+="$p99 "
      res["$f $server cpu"]+="$cpu "
      res["$f $server gen"]+="$gen "
    done
  done
done

m() { tr ' ' '\n' <<<"${res["$1 $2 $3"]:-}" | { grep . || true; } | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
for f in "${files[@]}"; do
  read -ra servers <<<"$(servers_for "$f")"
  echo
  echo "GET /$f (${size[$f]} B), loadgen -c${conns[$f]} (floor-wrk: wrk -t1 -c${conns[$f]}), medians of $rounds" \
    "alternating rounds of ${secs}s (server CPU 0, load generator CPU 1)"
  printf "%-16s %9s %7s %8s %9s %9s %9s %9s %9s %9s %9s %9s\n" "server" "req/s" "GB/s" "p99 us" "CPU us/r" \
    "core0 us/r" "gen us/r" "r/s/nginx" "CPU/nginx" "r/s/h2o" "CPU/h2o" "core0/h2o"
  nr=$(m "$f" nginx rps) nc=$(m "$f" nginx cpu) hr=$(m "$f" h2o rps) hc=$(m "$f" h2o cpu) hk=$(m "$f" h2o core)
  for server in "${servers[@]}"; do
    r=$(m "$f" "$server" rps) p=$(m "$f" "$server" p99) c=$(m "$f" "$server" cpu) k=$(m "$f" "$server" core)
    printf "%-16s %9.0f %7.3f %8.0f %9.3f %9.3f %9.3f %9s %9s %9s %9s %9s\n" "$server" "$r" "$(m "$f" "$server" gbps)" "$p" \
      "$c" "$k" "$(m "$f" "$server" gen)" "$(ratio "$r" "$nr")" "$(ratio "$c" "$nc")" "$(ratio "$r" "$hr")" "$(ratio "$c" "$hc")" \
      "$(ratio "$k" "$hk")"
  done
done
