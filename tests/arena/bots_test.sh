#!/usr/bin/env bash
# arena_bots against a real arena: 8 bots fill two rooms of four, play for 3 s, and every
# one of them gets frames and acknowledgements; the exit status is 0 (no protocol errors).
#   bots_test.sh ARENA_BIN ARENA_BOTS_BIN
set -euo pipefail
arena=$1
bots=$2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$arena" --port 0 --db "$tmp/board.db" --countdown-ms 300 --round-ms 60000 --bot-wait-ms 60000 >"$tmp/out" 2>&1 &
for _ in $(seq 100); do grep -q listening "$tmp/out" && break; sleep 0.05; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$tmp/out")
[[ -n $port ]] || { echo "no port: $(cat "$tmp/out")"; exit 1; }
"$bots" -c 8 -d 3s --input-interval 200ms --no-progress "ws://127.0.0.1:$port/ws" >"$tmp/bots"
json=$(tail -1 "$tmp/bots")
cat "$tmp/bots"
frames=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' <<<"$json")
acked=$(sed -n 's/.*"acked":\([0-9]*\).*/\1/p' <<<"$json")
errors=$(sed -n 's/.*"errors":{"total":\([0-9]*\).*/\1/p' <<<"$json")
(( frames > 8 * 20 )) || { echo "too few frames: $frames"; exit 1; }
(( acked > 8 * 5 )) || { echo "too few acknowledged inputs: $acked"; exit 1; }
(( errors == 0 )) || { echo "bot errors: $errors"; exit 1; }
rooms=$(curl -s "http://127.0.0.1:$port/api/rooms")
[[ $(grep -o '"phase":"playing"' <<<"$rooms" | wc -l) -eq 2 ]] || { echo "expected two rooms in play: $rooms"; exit 1; }
kill -TERM %1
wait %1
echo "bots test: passed"
