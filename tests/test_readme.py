"""The README's API tour runs verbatim: every ```python block under "## API tour"."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def tour_blocks():
    text = README.read_text(encoding="utf-8")
    tour = text.split("## API tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", tour, re.S)


def test_the_tour_has_code():
    assert len(tour_blocks()) >= 2


@pytest.mark.parametrize("i", range(len(tour_blocks())))
def test_api_tour_block_runs(i, native, tmp_path, monkeypatch):
    import mlpcore
    monkeypatch.chdir(tmp_path)  # files the tour writes land here
    threads = mlpcore.get_num_threads()
    try:
        exec(compile(tour_blocks()[i], f"README.md API tour block {i}", "exec"), {})
    finally:
        mlpcore.set_num_threads(threads)
