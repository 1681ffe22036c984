"""Turns the workers' JSON results (one per thread count) into the printed tables: training,
serving, sgemm, one-row products, and the ratios last. Markdown tables, so a run can be
pasted into bench/README.md as it is."""

from common import BY_KEY, SERVE_ROWS, flops_per_sample

TRAIN_PEERS = ["mlpcore", "torch", "torch.compile", "jax.jit", "jax.scan", "sklearn"]
SERVE_PEERS = ["mlpcore", "torch", "onnxruntime"]


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def rate(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def spread(r):
    """'median ±half-range%' of a summary."""
    return f"±{(r['max'] - r['min']) / 2 / r['median']:.0%}" if r["median"] else ""


def cell(r, fmt):
    if r is None:
        return "-"
    for k in ("na", "skipped", "error"):
        if k in r:
            return {"na": "n/a", "skipped": "skipped", "error": "failed"}[k]
    return f"{fmt(r['median'])} {spread(r)}"


def us(s):
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def best_sgemm(res, shape, field="median"):
    """(GFLOP/s, BLAS name) of the fastest BLAS at shape 'MxKxN' (median rates, or
    field="per_cpu_second")."""
    best = (0.0, "-")
    for b, rates in res.get("sgemm", {}).items():
        if shape in rates and rates[shape].get(field, 0.0) > best[0]:
            best = (rates[shape][field], b)
    return best


def ok(r):
    return r is not None and "median" in r


def print_report(results, say=print):
    """results: {threads: worker JSON}."""
    threads = sorted(results)
    keys = [k for k in BY_KEY if any(k in results[t]["train"] for t in threads)]
    say("\n## Training (samples/s, median of repeats ±half the min-max spread)")
    for t in threads:
        res = results[t]
        peers = [p for p in TRAIN_PEERS if any(p in res["train"].get(k, {}) for k in keys)]
        rows = [
            [BY_KEY[k].title] + [cell(res["train"][k].get(p), rate) for p in peers]
            for k in keys
            if k in res["train"]
        ]
        say(f"\n{t} thread(s):\n" + table(["config"] + peers, rows))
        if t == 1:
            rows = [
                [BY_KEY[k].title]
                + [
                    cell(
                        res["train"][k][p].get("per_cpu_second")
                        if ok(res["train"][k].get(p))
                        else res["train"][k].get(p),
                        rate,
                    )
                    for p in peers
                ]
                for k in keys
                if k in res["train"]
            ]
            say(
                "\n1 thread, samples per CPU-second of the process (other load barely moves "
                "it):\n" + table(["config"] + peers, rows)
            )
        comp = [
            f"{BY_KEY[k].title}: "
            + ", ".join(
                f"{p} {res['train'][k][p]['compile_seconds']:.1f} s"
                for p in peers
                if ok(res["train"][k].get(p)) and res["train"][k][p].get("compile_seconds")
            )
            for k in keys
            if k in res["train"]
        ]
        comp = [c for c in comp if not c.endswith(": ")]
        if comp:
            say("compile time (not in the rates): " + "; ".join(comp))
        bad = sorted(
            {
                f"{p} on {BY_KEY[k].title} ({r['cpu_per_wall']:.2f} cores)"
                for k in keys
                for p, r in res["train"].get(k, {}).items()
                if ok(r) and r["cpu_per_wall"] > 1.15 * t
            }
        )
        if bad:
            say(f"note: more than {t} cores busy on average for: " + ", ".join(bad))
        low = sorted(
            {
                p
                for k in keys
                for p, r in res["train"].get(k, {}).items()
                if ok(r) and r["cpu_per_wall"] < 0.8
            }
        )
        if low:
            say(
                "note: less than 0.8 of a core busy on average (another process took the CPU, "
                "or the peer waits) for: " + ", ".join(low)
            )

    say("\n## Serving (predict, NumPy in, probabilities out; median time per call)")
    for t in threads:
        res = results[t]
        head = ["config"] + [f"{p} {n} rows" for n in SERVE_ROWS for p in SERVE_PEERS]
        rows = []
        for k in keys:
            row = res["serve"].get(k)
            if row is None:
                continue
            cells = [BY_KEY[k].title]
            for n in SERVE_ROWS:
                for p in SERVE_PEERS:
                    r = row.get(p)
                    cells.append(
                        us(r[str(n)]["median"]) if r and str(n) in r else ("failed" if r else "-")
                    )
            rows.append(cells)
        say(f"\n{t} thread(s) (onnxruntime intra_op_num_threads={t}):\n" + table(head, rows))
        diffs = [
            f"{p} {r['max_abs_diff']:.0e}"
            for k in keys
            for p, r in res["serve"].get(k, {}).items()
            if p != "mlpcore" and "max_abs_diff" in r
        ]
        if diffs:
            say(
                "largest |probability - mlpcore's| over configs: "
                + ", ".join(sorted(set(d.split()[0] for d in diffs)))
                + ": max "
                + f"{max(float(d.split()[1]) for d in diffs):.0e}"
            )

    say("\n## sgemm (GFLOP/s, median)")
    for t in threads:
        res = results[t]
        shapes = list(next(iter(res["sgemm"].values()), {}).keys())
        rows = [
            [b] + [f"{rates[s]['median']:.1f}" for s in shapes] for b, rates in res["sgemm"].items()
        ]
        say(f"\n{t} thread(s):\n" + table(["BLAS"] + shapes, rows))
    for b, desc in results[threads[-1]].get("blas", {}).items():
        say(f"  {b}: {desc}")

    say("\n## One row x (1, K) @ W (K, N), microseconds (median)")
    for t in threads:
        res = results[t]
        if not res.get("one_row"):
            continue
        names = list(next(iter(res["one_row"].values())).keys())
        rows = [
            [s] + [f"{v[n]:.1f}" if n in v else "-" for n in names]
            for s, v in res["one_row"].items()
        ]
        say(f"\n{t} thread(s):\n" + table(["K x N"] + names, rows))

    say("\n## Ratios (mlpcore / peer, > 1 means mlpcore is faster; medians)")
    for t in threads:
        res = results[t]
        peers = [p for p in TRAIN_PEERS[1:] if any(p in res["train"].get(k, {}) for k in keys)]
        g1024, gname = best_sgemm(res, "1024x1024x1024")
        rows = []
        for k in keys:
            row = res["train"].get(k, {})
            mc = row.get("mlpcore")
            if not ok(mc):
                continue
            cfg = BY_KEY[k]
            cells = [cfg.title]
            for p in peers:
                r = row.get(p)
                cells.append(f"{mc['median'] / r['median']:.2f}x" if ok(r) else cell(r, rate))
            others = [
                row[p]["median"] for p in ("torch", "torch.compile", "jax.scan") if ok(row.get(p))
            ]
            cells.append(f"{mc['median'] / max(others):.2f}x" if others else "-")
            gf = flops_per_sample(cfg.widths) * mc["median"] / 1e9
            glayer, lname = best_sgemm(res, f"{cfg.batch}x{cfg.widths[0]}x{cfg.widths[1]}")
            cells.append(f"{gf:.0f} GF/s = {gf / g1024:.0%}" if g1024 else "-")
            cells.append(f"{gf / glayer:.0%} ({lname})" if glayer else "-")
            if t != threads[0]:
                base = results[threads[0]]["train"].get(k, {}).get("mlpcore")
                cells.append(f"{mc['median'] / base['median']:.2f}x" if ok(base) else "-")
            rows.append(cells)
        say(
            f"\ntraining, {t} thread(s); best sgemm@1024 = {g1024:.0f} GFLOP/s ({gname}):\n"
            + table(
                ["config"]
                + [f"vs {p}" for p in peers]
                + [
                    "vs best of torch/compile/jax.scan",
                    "mlpcore of sgemm@1024",
                    "of sgemm@first layer",
                ]
                + ([f"mlpcore {t}thr / {threads[0]}thr"] if t != threads[0] else []),
                rows,
            )
        )
    for t in threads:
        res = results[t]
        rows = []
        for k in keys:
            row = res["serve"].get(k, {})
            mc = row.get("mlpcore")
            if not mc or str(SERVE_ROWS[0]) not in mc:
                continue
            cells = [BY_KEY[k].title]
            for n in SERVE_ROWS:
                for p in SERVE_PEERS[1:]:
                    r = row.get(p)
                    cells.append(
                        f"{r[str(n)]['median'] / mc[str(n)]['median']:.2f}x"
                        if r and str(n) in r
                        else "-"
                    )
            rows.append(cells)
        say(
            f"\nserving, {t} thread(s) (peer time / mlpcore time):\n"
            + table(
                ["config"] + [f"vs {p} {n} rows" for n in SERVE_ROWS for p in SERVE_PEERS[1:]], rows
            )
        )
