"""The test run ends with a line naming what was skipped for a missing optional dependency
(tests/conftest.py's pytest_terminal_summary): checked by running pytest on two modules with
torch made unimportable."""

import os
import pathlib
import subprocess
import sys

TESTS = pathlib.Path(__file__).resolve().parent


def run_pytest(tmp_path, *args, hide=()):
    site = tmp_path / "site"
    site.mkdir()
    # a finder in front of the others: importing a hidden module (or asking for its spec)
    # raises ModuleNotFoundError, as if it were not installed
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        f"HIDE = {tuple(hide)!r}\n"
        "class Hide:\n"
        "    @staticmethod\n"
        "    def find_spec(name, path=None, target=None):\n"
        "        if name.split('.')[0] in HIDE:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide)\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(site)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out.returncode, out.stdout


def test_the_run_names_a_missing_optional_dependency(tmp_path):
    rc, out = run_pytest(
        tmp_path, "tests/test_torch_convert.py", "tests/test_schedules.py", hide=("torch",)
    )
    assert rc == 0, out
    lines = [l for l in out.splitlines() if "missing optional dependency" in l]
    assert len(lines) == 1, out
    # test_torch_convert.py skips at collection; test_schedules.py has 12 torch tests (parametrised)
    assert "torch (1 module and 12 tests; install torch" in lines[0], lines[0]


def test_the_run_says_when_nothing_was_missing(tmp_path):
    rc, out = run_pytest(tmp_path, "tests/test_defaults.py")
    assert rc == 0, out
    assert "optional dependencies: none missing, no test skipped for one" in out, out
