#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: the release build (-O3: unit,
# integration, install and layering checks), then AddressSanitizer+UBSan (-O0), then
# ThreadSanitizer (-O2, as the dev build), then the fuzz targets (HTTP parser, WebSocket
# frames, cluster envelopes) for a bounded time (FUZZ_SECONDS, default 60). `all` leaves out
# two builds that would only repeat work on CI's 2 cores (7 and 5 minutes): the dev preset
# compiles the same code and runs the same tests at -O2 (TSan's level), and the bench preset
# is release without tests (it is configured, so a broken preset still fails; its targets are
# built and run by the release build). Both stay available by name.
# Usage: scripts/test.sh [dev|release|bench|asan|tsan|fuzz|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
modes=("${1:-all}")
if [[ "${modes[0]}" == all ]]; then
  modes=(release asan tsan fuzz)
  echo "=== bench: configure only (its targets are release's)"
  cmake --preset bench >/dev/null
fi
for mode in "${modes[@]}"; do
  echo "=== $mode: configure and build"
  cmake --preset "$mode" >/dev/null
  cmake --build --preset "$mode"
  echo "=== $mode: test"
  case "$mode" in
    tsan)
      # gcc 12's TSan cannot map its shadow memory with the address-space randomisation of
      # recent kernels; running without randomisation (setarch -R) is the standard remedy.
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/.ci/tsan.supp" setarch "$(uname -m)" -R ctest --preset tsan ;;
    asan)
      ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        ctest --preset asan ;;
    bench) echo "(the bench preset has no tests: built whole above)" ;;
    fuzz)
      # New corpus entries go to a scratch copy; a crash leaves an artifact and fails the run
      # (save it under tests/fuzz/regressions/ so the normal test run replays it forever).
      for target in request_parser ws_frame cluster_envelope; do
        work=build/fuzz/run/$target && rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
        cp tests/fuzz/corpus/$target/* "$work/corpus/"
        ./build/fuzz/bin/${target}_fuzz -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 \
          -artifact_prefix="$work/artifacts/" "$work/corpus" 2>&1 | tail -n 12
        if [[ -n "$(ls -A "$work/artifacts")" ]]; then
          echo "fuzz: $target crash inputs in $work/artifacts" >&2
          exit 1
        fi
      done ;;
    *) ctest --preset "$mode" ;;
  esac
done
echo "=== all requested test runs passed: ${modes[*]}"
