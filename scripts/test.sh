#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: the dev build (unit, integration,
# install and layering checks), then AddressSanitizer+UBSan, then ThreadSanitizer.
# Usage: scripts/test.sh [dev|asan|tsan|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
modes=("${1:-all}")
[[ "${modes[0]}" == all ]] && modes=(dev asan tsan)
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
    *) ctest --preset "$mode" ;;
  esac
done
echo "=== all requested test runs passed: ${modes[*]}"
