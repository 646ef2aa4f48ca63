#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main demo, the arena game, in the
# foreground (Ctrl-C or SIGTERM stops it gracefully). Extra arguments go to the demo, e.g.
# --port 7000 or --address 0.0.0.0.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target arena
exec ./build/release/bin/arena "$@"
