#!/usr/bin/env bash
# Builds mlpcore with AddressSanitizer + UndefinedBehaviorSanitizer (-DMLPCORE_SANITIZE=ON)
# into a temporary directory and runs the test suite against that build. Fails when pytest
# fails or when the output holds any sanitizer report (UBSan and ASan both abort on the
# first one; the grep also catches reports printed by child processes).
#
# Usage: bash .ci/sanitize.sh [pytest arguments]   (default: the whole suite, tests/)
# Needs: python with numpy + pytest (+ optional test deps) on PATH, a C++ compiler with
# libasan, network access for pip's isolated build (scikit-build-core, pybind11, OpenBLAS).
# The build tools stay in pip's isolated build environment; nothing is installed into the
# current environment: the sanitized package goes to a temporary --target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# MLPCORE_SANITIZE_DIR=dir keeps the build there and reuses it on the next run (delete the
# folder after changing C++ or Python sources); by default a temporary folder is used.
if [ -n "${MLPCORE_SANITIZE_DIR:-}" ]; then
  tmp=$MLPCORE_SANITIZE_DIR
  mkdir -p "$tmp"
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlpcore-sanitize.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
fi

start=$SECONDS
if [ ! -d "$tmp/site/mlpcore" ]; then
  python -m pip wheel --quiet --no-deps --wheel-dir "$tmp/dist" \
    -C cmake.define.MLPCORE_SANITIZE=ON -C build-dir="$tmp/build" .
  python -m pip install --quiet --no-deps --target "$tmp/site" "$tmp"/dist/mlpcore-*.whl
  echo "sanitize: built in $((SECONDS - start)) s"
fi

cxx=${CXX:-c++}
libasan=$("$cxx" -print-file-name=libasan.so)
libstdcxx=$("$cxx" -print-file-name=libstdc++.so.6)
for lib in "$libasan" "$libstdcxx"; do
  [ -e "$lib" ] || { echo "sanitize: $lib not found" >&2; exit 1; }
done

# The interpreter is not instrumented: ASan's runtime has to come first (LD_PRELOAD), with
# libstdc++ so that its operator new/delete interceptors see C++ exceptions consistently.
# allocator_may_return_null=1: a huge request fails as std::bad_alloc (as it would without
# ASan) instead of aborting, so tests of MemoryError paths still test something.
# MLPCORE_SANITIZED tells tests that cannot run under ASan (address-space limits, 8 GiB
# inputs) to skip themselves.
# --capture=sys: pytest's default fd-level capture would swallow a report written to fd 2 by
# a sanitizer that then ends the process (log_path= was tried: GCC 12's runtime ignores it).
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests)
log="$tmp/pytest.log"
set +e
env LD_PRELOAD="$libasan $libstdcxx" \
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  MLPCORE_SANITIZED=1 PYTHONPATH="$tmp/site" \
  python -m pytest -q -p no:cacheprovider --capture=sys "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "sanitize: tests took $((SECONDS - start)) s in all (pytest exit $rc)"

pattern="runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer"
found=$(grep -cE "$pattern" "$log" || true)
if [ "$found" -ne 0 ]; then
  echo "sanitize: FAILED, $found sanitizer report(s):" >&2
  grep -E -A12 "$pattern" "$log" | head -60 >&2
  exit 1
fi
if [ "$rc" -eq 5 ]; then
  echo "sanitize: FAILED, pytest collected no tests" >&2
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "sanitize: FAILED, pytest exit $rc" >&2; exit "$rc"; }
echo "sanitize: clean"
