"""Int8 serving: mlpcore.quantize against mlpcore float32, onnxruntime float32 and
onnxruntime's own int8 model (onnxruntime.quantization.quantize_dynamic of the float model
mlpcore exports), at 1 and 2 threads; first what the hardware allows.

    PYTHONPATH=python python bench/bench_quantized.py            # ~3-5 min on 2 idle cores
    PYTHONPATH=python python bench/bench_quantized.py --quick    # smoke test
    PYTHONPATH=python python bench/bench_quantized.py --json out.json

Each thread count runs in its own process (threads set before any import). Inside it the
peers are timed in interleaved rounds (one measurement of each peer per round, the median
over rounds reported), and every onnxruntime session has session.intra_op.allow_spinning
= "0", so no peer's spinning threads tax the one timed after it. Networks: 784-256-128-10
and 784-1024-1024-10 (Dense-ReLU, softmax), trained one epoch on the synthetic data of
common.py, quantized with 1024 calibration rows; predict on 4096 rows and on 1 row.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = {"a": (784, 256, 128, 10), "b": (784, 1024, 1024, 10)}
ROWS = (4096, 1)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return platform.processor()
    name = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in lines if l.startswith("flags")), [])
    isa = [
        f
        for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
        if f in flags
    ]
    return f"{name} ({os.cpu_count()} CPUs; {', '.join(isa)})"


# ---- the worker: one thread count --------------------------------------------------------


def _time(fn, seconds):
    """Seconds per call: calls enough to last ~seconds, after one warm call."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(seconds / one))
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def _hardware(quick):
    """Peak multiply-accumulate rates of register-only loops and of the kernels, 1 thread."""
    import numpy as np
    from blas import bundled_gemm

    from mlpcore import _core

    t = _core.testing
    out = {}
    iters = 2_000_000 if quick else 20_000_000
    for what in ("vnni512", "avx2_int8", "fma512", "fma256"):
        try:
            out[f"peak_{what}"] = statistics.median(t.int8_peak(what, iters)[0] for _ in range(5))
        except ValueError:
            pass
    before = _core.int8_kernel()
    for k in ("amx", "vnni", "avx2", "portable"):
        if not t.int8_kernel_supported(k):
            continue
        t.set_int8_kernel(k)
        m = 64 if k == "portable" else 512
        reps = 1 if k == "portable" else 5
        out[f"gemm_{k}_{m}x1024x1024"] = statistics.median(
            m * 1024 * 1024 / t.int8_gemm_seconds(m, 1024, 1024, reps) for _ in range(5)
        )
        out[f"gemm_{k}_64x784x256"] = statistics.median(
            64 * 784 * 256 / t.int8_gemm_seconds(64, 784, 256, 20) for _ in range(5)
        )
    t.set_int8_kernel(before)
    gemm = bundled_gemm()
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    out["sgemm_1024"] = statistics.median(
        1024**3 / _time(lambda: gemm(a, a), 0.3) for _ in range(5)
    )  # multiply-adds / s
    return out


def _ort_session(ort, model_bytes, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _peers(widths, threads, quick):
    import numpy as np
    from common import make_data

    import mlpcore as mc
    from mlpcore import _core

    X, y = make_data(4096, widths[0], widths[-1], seed=0)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [mc.Dense(a, b), mc.ReLU()]
    net = mc.Sequential(layers[:-1], loss="softmax_cross_entropy", dtype="float32", seed=0)
    net.fit(X[:1024] if quick else X, y[:1024] if quick else y, epochs=1, batch_size=128, lr=0.01)
    q = mc.quantize(net, X[:1024])
    peers = {"mlpcore float32": net.predict, "mlpcore int8": q.predict}

    def forced(kernel):
        def run(x):
            before = _core.int8_kernel()
            _core.testing.set_int8_kernel(kernel)
            try:
                return q.predict(x)
            finally:
                _core.testing.set_int8_kernel(before)

        return run

    if _core.int8_kernel() == "amx":
        peers["mlpcore int8 (vnni kernel)"] = forced("vnni")
    if _core.testing.int8_kernel_supported("avx2") and _core.int8_kernel() != "avx2":
        peers["mlpcore int8 (avx2 kernel)"] = forced("avx2")
    notes = {"int8 kernel": _core.int8_kernel()}
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        float_model = mc.onnx.export(net).SerializeToString()
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "f.onnx"), os.path.join(d, "q.onnx")
            with open(src, "wb") as f:
                f.write(float_model)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
            with open(dst, "rb") as f:
                ort_int8 = f.read()
        sessions = {
            "onnxruntime float32": _ort_session(ort, float_model, threads),
            "onnxruntime int8 (quantize_dynamic)": _ort_session(ort, ort_int8, threads),
            "onnxruntime running mlpcore's int8 export": _ort_session(
                ort, mc.onnx.export(q).SerializeToString(), threads
            ),
        }
        for name, s in sessions.items():
            peers[name] = (lambda s: lambda x: s.run(None, {"X": x})[0])(s)
        notes["onnxruntime"] = ort.__version__
    except ImportError as exc:
        notes["onnxruntime"] = f"skipped ({exc})"
    # agreement with the float model on the benchmark rows
    pf = net.predict(X)
    agree = {name: float(np.mean(fn(X).argmax(1) == pf.argmax(1))) for name, fn in peers.items()}
    maxdiff = {name: float(np.abs(fn(X) - pf).max()) for name, fn in peers.items()}
    return X, peers, notes, agree, maxdiff


def worker(threads, quick, configs):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from load import OtherLoad

    import mlpcore as mc

    mc.set_num_threads(threads)
    load = OtherLoad()
    result = {"threads": threads, "configs": {}}
    if threads == 1:
        result["hardware"] = _hardware(quick)
    rounds = 3 if quick else 7
    for key in configs:
        widths = CONFIGS[key]
        X, peers, notes, agree, maxdiff = _peers(widths, threads, quick)
        times = {rows: {name: [] for name in peers} for rows in ROWS}
        for _ in range(rounds):
            for rows in ROWS:
                x = X[:rows].copy()
                for name, fn in peers.items():
                    times[rows][name].append(_time(lambda: fn(x), 0.05 if quick else 0.25))
        result["configs"]["-".join(map(str, widths))] = {
            "notes": notes,
            "class_agreement_with_float": agree,
            "max_probability_difference": maxdiff,
            "seconds": {
                str(rows): {
                    name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                    for name, v in t.items()
                }
                for rows, t in times.items()
            },
        }
    result["other_load"] = load.fraction()
    print(json.dumps(result))


# ---- the driver ---------------------------------------------------------------------------

GOALS = """Goals (this CPU): 4096 rows, int8 >= 1.2x onnxruntime's int8 and >= 2.5x mlpcore
float32 (AVX-512 VNNI); 1 row of 784-1024-1024-10: int8 >= 2x mlpcore float32 and faster
than onnxruntime's int8."""


def _fmt(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def report(runs):
    hw = next((r["hardware"] for r in runs if "hardware" in r), {})
    lines = [f"CPU: {_cpu_name()}", ""]
    if hw:
        lines.append("What the hardware allows, one thread (multiply-accumulates per second):")
        lines.append("")
        lines.append("| loop / kernel | GMAC/s | x fp32 FMA peak |")
        lines.append("|---|---|---|")
        fma = hw.get("peak_fma512") or hw.get("peak_fma256")
        for k, v in hw.items():
            lines.append(
                f"| {k} | {v / 1e9:.1f} | {v / fma:.2f} |" if fma else f"| {k} | {v / 1e9:.1f} | |"
            )
        lines.append("")
    for cfg in runs[0]["configs"]:
        for rows in map(str, ROWS):
            lines.append(
                f"### {cfg}, predict {rows} row{'s' if rows != '1' else ''} "
                "(median over rounds; min-max)"
            )
            lines.append("")
            names = list(runs[0]["configs"][cfg]["seconds"][rows])
            lines.append(
                "| peer | "
                + " | ".join(
                    f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" for r in runs
                )
                + " |"
            )
            lines.append("|---|" + "---|" * len(runs))
            for name in names:
                cells = []
                for r in runs:
                    s = r["configs"][cfg]["seconds"][rows][name]
                    cells.append(f"{_fmt(s['median'])} ({_fmt(s['min'])}-{_fmt(s['max'])})")
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
    lines.append(GOALS)
    lines.append("")
    lines.append(
        "| config | rows | threads | int8 vs ort int8 | int8 vs mlpcore f32 | "
        "int8 vs ort f32 | met |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for cfg in runs[0]["configs"]:
        for rows in map(str, ROWS):
            for r in runs:
                s = {k: v["median"] for k, v in r["configs"][cfg]["seconds"][rows].items()}
                mine = s["mlpcore int8"]
                ort8 = s.get("onnxruntime int8 (quantize_dynamic)")
                ortf = s.get("onnxruntime float32")
                vs_ort8 = ort8 / mine if ort8 else float("nan")
                vs_f32 = s["mlpcore float32"] / mine
                vs_ortf = ortf / mine if ortf else float("nan")
                if rows == "4096":
                    met = vs_ort8 >= 1.2 and vs_f32 >= 2.5
                elif cfg == "784-1024-1024-10":
                    met = vs_f32 >= 2.0 and vs_ort8 > 1.0
                else:
                    met = None
                lines.append(
                    f"| {cfg} | {rows} | {r['threads']} | {vs_ort8:.2f}x | {vs_f32:.2f}x | "
                    f"{vs_ortf:.2f}x | {'-' if met is None else 'yes' if met else 'NO'} |"
                )
    lines.append("")
    for cfg in runs[0]["configs"]:
        c = runs[0]["configs"][cfg]
        lines.append(
            f"{cfg}: {c['notes']}; class agreement with float32 on the 4096 rows: "
            + ", ".join(f"{k} {v:.4f}" for k, v in c["class_agreement_with_float"].items())
        )
        lines.append(
            "  max |p - p_float32|: "
            + ", ".join(f"{k} {v:.3g}" for k, v in c["max_probability_difference"].items())
        )
    for r in runs:
        if r.get("other_load") is not None:
            lines.append(
                f"other processes kept {100 * r['other_load']:.0f}% of the CPU busy "
                f"during the {r['threads']}-thread run"
            )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--configs", default="ab")
    p.add_argument("--json")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.quick, args.configs)
    runs = []
    for t in map(int, args.threads.split(",")):
        env = dict(
            os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS=str(t), MLPCORE_NUM_THREADS=str(t)
        )
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            str(t),
            "--configs",
            args.configs,
        ] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    print(report(runs))


if __name__ == "__main__":
    main()
