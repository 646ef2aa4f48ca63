#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: the dev build (unit, integration,
# install and layering checks), then the release build (-O3, its tests too) and the bench
# build, so every preset the README and scripts name builds whole, then
# AddressSanitizer+UBSan, then ThreadSanitizer, then the fuzz targets (HTTP parser, WebSocket frames, cluster envelopes) for a
# bounded time (FUZZ_SECONDS, default 60).
# Usage: scripts/test.sh [dev|release|bench|asan|tsan|fuzz|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
modes=("${1:-all}")
[[ "${modes[0]}" == all ]] && modes=(dev release bench asan tsan fuzz)
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
