"""Every ```python block of README.md, docs/*.md and docs/guide/*.md runs on its own, as written: each block is
written to a file and run as a script (`python block.py`, so `__name__ == "__main__"`) in a
fresh interpreter in an empty directory. A block is skipped only when an optional dependency
it uses is not installed, with the reason naming it."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs" / "guide").glob("*.md")),  # the site's user guide
]

# What a block's text uses -> the optional modules it needs (import names).
NEEDS = [
    (r"\bonnxruntime\b", ("onnxruntime",)),
    (r"\bonnx\b", ("onnx",)),
    (r"\btorch\b", ("torch",)),
    (r"\bsklearn\b|MLPClassifier|MLPRegressor|from_sklearn", ("sklearn",)),
    (r"\bdask_ml\b", ("dask_ml",)),
    (r"\bdask\b", ("dask", "distributed")),
    (r"to_pandas", ("pandas",)),
    (r"\.plot\(", ("matplotlib",)),
]


def blocks():
    """(id, code) of every ```python block, the id naming the file and line."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{path.relative_to(ROOT)}:{line}", m.group(1)))
    return out


BLOCKS = blocks()


def missing_modules(code):
    needed = []
    for pattern, modules in NEEDS:
        if re.search(pattern, code):
            needed += [m for m in modules if m not in needed]
    return [m for m in needed if not _installed(m)]


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def test_the_docs_have_blocks():
    assert len(BLOCKS) >= 10, [i for i, _ in BLOCKS]


@pytest.mark.parametrize("code", [c for _, c in BLOCKS], ids=[i for i, _ in BLOCKS])
def test_doc_block_runs_on_its_own(code, native, tmp_path):
    missing = missing_modules(code)
    if missing:
        pytest.skip(f"needs the optional dependency {', '.join(missing)} (not installed)")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, (
        f"the block exited with {run.returncode}:\n{code}\n--- stderr ---\n{run.stderr[-3000:]}"
    )
