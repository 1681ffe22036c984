"""A property-based fuzz test of the public API (hypothesis). The loop itself is
fuzz_api_child.py (its docstring lists what is drawn and what is checked); it runs in a
child process so that a crash of the interpreter fails this test and shows the case that
caused it (the child writes each case to a file before running it).

MLPCORE_FUZZ_CALLS (default 4000) and MLPCORE_FUZZ_SECONDS (default 90, a safety cap) set
the size of a run; MLPCORE_FUZZ_SEED replays a run."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")

HERE = os.path.dirname(os.path.abspath(__file__))


def test_fuzz_public_api(tmp_path):
    case_file = tmp_path / "case.txt"
    sanitized = bool(os.environ.get("MLPCORE_SANITIZED"))
    calls = os.environ.get("MLPCORE_FUZZ_CALLS", "3000" if sanitized else "4000")
    seconds = os.environ.get("MLPCORE_FUZZ_SECONDS", "60" if sanitized else "90")
    cmd = [
        sys.executable,
        os.path.join(HERE, "fuzz_api_child.py"),
        str(case_file),
        "--calls",
        calls,
        "--seconds",
        seconds,
    ]
    if os.environ.get("MLPCORE_FUZZ_SEED"):
        cmd += ["--seed", os.environ["MLPCORE_FUZZ_SEED"]]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([p for p in [os.environ.get("PYTHONPATH"), HERE] if p]),
    }
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=float(seconds) * 3 + 120
    )
    print(proc.stdout[-4000:])
    case = case_file.read_text() if case_file.exists() else "(no case recorded)"
    if proc.returncode < 0:
        pytest.fail(
            f"the interpreter died (signal {-proc.returncode}) on this case:\n{case}\n"
            f"({proc.stdout[:300].strip()})\n--- stderr (tail) ---\n"
            f"{proc.stderr[-4000:]}"
        )
    assert proc.returncode == 0, (
        f"the fuzz loop failed (exit {proc.returncode}); last "
        f"case:\n{case}\n--- output (tail) ---\n"
        f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    )
    assert "fuzz: " in proc.stdout and " calls in " in proc.stdout
