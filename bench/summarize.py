#!/usr/bin/env python
"""The README's tables from several saved runs (bench_mlp.py --json FILE): each ratio as
the range over the runs, as the performance goals state them.

    python bench/summarize.py run1.json run2.json
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BY_KEY, SERVE_ROWS, flops_per_sample  # noqa: E402
from report import best_sgemm, ok, table  # noqa: E402

PEERS = ["torch", "torch.compile", "jax.jit", "jax.scan", "sklearn"]


def span(vals, fmt="{:.2f}x"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = fmt.format(min(vals)), fmt.format(max(vals))
    return lo if lo == hi else re.match(r"[-\d.]+", lo).group(0) + "-" + hi


def ratio(run, t, k, peer, field=None):
    row = run.get(str(t), {}).get("train", {}).get(k, {})
    a, b = row.get("mlpcore"), row.get(peer)
    if not (ok(a) and ok(b)):
        return None
    if field:
        return a[field]["median"] / b[field]["median"]
    return a["median"] / b["median"]


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    threads = sorted({int(t) for r in runs for t in r})
    for t in threads:
        for field, what in (
            (None, "wall-clock samples/s"),
            ("per_cpu_second", "samples per CPU-second"),
        ):
            if field and t != 1:
                continue
            rows = []
            for k in BY_KEY:
                cells = [BY_KEY[k].title]
                for p in PEERS:
                    vals = [ratio(r, t, k, p, field) for r in runs]
                    na = any(
                        "na" in r.get(str(t), {}).get("train", {}).get(k, {}).get(p, {})
                        for r in runs
                    )
                    cells.append("n/a" if na else span(vals))
                share = []
                for r in runs:
                    res = r.get(str(t), {})
                    mc = res.get("train", {}).get(k, {}).get("mlpcore")
                    g, _ = best_sgemm(res, "1024x1024x1024", field or "median")
                    if ok(mc) and g:
                        rate = mc[field]["median"] if field else mc["median"]
                        share.append(100 * flops_per_sample(BY_KEY[k].widths) * rate / 1e9 / g)
                cells.append(span(share, "{:.0f}%"))
                if t != threads[0]:
                    cells.append(
                        span(
                            [
                                r[str(t)]["train"][k]["mlpcore"]["median"]
                                / r[str(threads[0])]["train"][k]["mlpcore"]["median"]
                                for r in runs
                                if ok(r.get(str(t), {}).get("train", {}).get(k, {}).get("mlpcore"))
                                and ok(
                                    r.get(str(threads[0]), {})
                                    .get("train", {})
                                    .get(k, {})
                                    .get("mlpcore")
                                )
                            ]
                        )
                    )
                rows.append(cells)
            head = ["config"] + [f"vs {p}" for p in PEERS] + ["of best sgemm@1024"]
            if t != threads[0]:
                head.append(f"mlpcore {t} thr / {threads[0]} thr")
            print(f"\nTraining, {t} thread(s), mlpcore / peer from {what}:\n" + table(head, rows))
    for t in threads:
        rows = []
        for k in BY_KEY:
            cells = [BY_KEY[k].title]
            for n in SERVE_ROWS:
                mcs = [
                    r[str(t)]["serve"].get(k, {}).get("mlpcore", {}).get(str(n), {}).get("median")
                    for r in runs
                    if str(t) in r
                ]
                cells.append(
                    span([m * 1e6 for m in mcs if m], "{:.0f} us")
                    if n == 1
                    else span([n / m / 1e6 for m in mcs if m], "{:.2f}M rows/s")
                )
                for p in ("torch", "onnxruntime"):
                    vals = []
                    for r in runs:
                        row = r.get(str(t), {}).get("serve", {}).get(k, {})
                        a, b = row.get("mlpcore", {}).get(str(n)), row.get(p, {}).get(str(n))
                        if a and b:
                            vals.append(b["median"] / a["median"])
                    cells.append(span(vals))
            rows.append(cells)
        head = ["config"] + [
            h
            for n in SERVE_ROWS
            for h in (
                f"mlpcore {n} row{'s' if n > 1 else ''}",
                f"vs torch {n}",
                f"vs onnxruntime {n}",
            )
        ]
        print(
            f"\nServing, {t} thread(s), peer time / mlpcore time (> 1: mlpcore faster):\n"
            + table(head, rows)
        )
    for t in threads:
        rows = []
        blases = sorted({b for r in runs for b in r.get(str(t), {}).get("sgemm", {})})
        shapes = list(next(iter(runs[0][str(t)]["sgemm"].values())).keys())
        for b in blases:
            rows.append(
                [b]
                + [
                    span(
                        [
                            r[str(t)]["sgemm"][b][s]["median"]
                            for r in runs
                            if b in r.get(str(t), {}).get("sgemm", {})
                        ],
                        "{:.0f}",
                    )
                    for s in shapes
                ]
            )
        print(f"\nsgemm GFLOP/s, {t} thread(s):\n" + table(["BLAS"] + shapes, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
