#!/usr/bin/env bash
# Lint, format and type checks, with pinned tools in their own venv (.ci/lint-venv):
#   ruff check            pyflakes, pycodestyle, import order, bug-prone patterns (pyproject.toml)
#   ruff format --check   the Python formatting
#   mypy                  the package python/mlpcore (pyproject.toml [tool.mypy])
#   clang-format          cpp/ (.clang-format), --dry-run --Werror
# Usage: bash .ci/lint.sh   (from anywhere; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

RUFF=ruff==0.17.6
MYPY=mypy==2.4.1
CLANG_FORMAT=clang-format==21.1.8

venv=.ci/lint-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
"$venv/bin/python" -m pip install --quiet "$RUFF" "$MYPY" "$CLANG_FORMAT" numpy

status=0
run() {
  echo "lint: $*"
  "$@" || status=1
}
run "$venv/bin/ruff" check python tests bench examples
run "$venv/bin/ruff" format --check python tests bench examples
run "$venv/bin/mypy"
mapfile -t cpp < <(git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 2>/dev/null || find cpp -name '*.[ch]pp')
[ "${#cpp[@]}" -gt 0 ] || mapfile -t cpp < <(find cpp -name '*.cpp' -o -name '*.hpp')
run "$venv/bin/clang-format" --dry-run --Werror "${cpp[@]}"
[ "$status" -eq 0 ] && echo "lint: clean"
exit "$status"
