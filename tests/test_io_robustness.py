"""mlpcore.save is atomic and symmetric with load; load turns every
damaged, truncated, crafted or newer-format file into ModelFileError (a ValueError) before
building a model, keeps OSError for I/O, and never unpickles."""

import copy
import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import _npz, _record

from conftest import assert_all_equal, require_backend


def good_model(backend="numpy", dtype="float64"):
    net = mc.Sequential(
        [mc.Dense(4, 6), mc.BatchNorm(6), mc.ReLU(), mc.Dropout(0.2), mc.Dense(6, 3)],
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=5,
        backend=backend,
    )
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    net.fit(X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01, validation_data=(X, y))
    return net


def contents(path):
    """(config dict, {name: array}) of a saved file."""
    with np.load(path, allow_pickle=False) as f:
        config = json.loads(str(f["config"]))
        return config, {k: f[k] for k in f.files if k != "config"}


def write(path, config, arrays, raw_config=None):
    text = raw_config if raw_config is not None else json.dumps(config)
    np.savez(path, config=np.array(text), **arrays)


def same_model(a, b):
    assert repr(a) == repr(b)
    assert_all_equal(a.get_weights(), b.get_weights(), "weights")
    assert_all_equal(a.get_state(), b.get_state(), "state")
    for i in range(2):
        assert_all_equal(a.get_optimizer_state()[i], b.get_optimizer_state()[i], "moments")
    assert (a.epoch_, a.step_, a.opt_steps_, a.optimizer_, a.history_) == (
        b.epoch_,
        b.step_,
        b.opt_steps_,
        b.optimizer_,
        b.history_,
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A good model and its file's bytes."""
    net = good_model()
    path = tmp_path_factory.mktemp("io") / "good.npz"
    mc.save(net, path)
    return net, path, path.read_bytes()


def test_model_file_error_is_a_value_error():
    assert issubclass(mc.ModelFileError, ValueError) and mc.ModelFileError is mc.io.ModelFileError


# ---- paths and the atomic write ------------------------------------------------------------
@pytest.mark.parametrize(
    "save_as, load_as", [("m", "m"), ("m", "m.npz"), ("m.npz", "m"), ("m.npz", "m.npz")]
)
def test_save_and_load_add_the_same_suffix(save_as, load_as, tmp_path):
    net = good_model()
    mc.save(net, tmp_path / save_as)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    same_model(mc.load(tmp_path / load_as), net)
    same_model(mc.load(str(tmp_path / load_as)), net)


def test_file_objects(tmp_path):
    net = good_model()
    with open(tmp_path / "f.bin", "wb") as f:
        mc.save(net, f)
    with open(tmp_path / "f.bin", "rb") as f:
        same_model(mc.load(f), net)


def test_bad_path_types():
    with pytest.raises(TypeError, match="path"):
        mc.save(good_model(), 3)
    with pytest.raises(TypeError, match="path"):
        mc.load(None)


def test_io_errors_stay_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        mc.load(tmp_path / "missing.npz")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(OSError):
        mc.load(tmp_path / "d.npz")
    with pytest.raises(OSError):
        mc.save(good_model(), tmp_path / "no" / "such" / "folder" / "m.npz")
    assert sorted(os.listdir(tmp_path)) == ["d.npz"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(exc, tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"old content")

    def half_write(f):
        f.write(b"half of the new")
        raise exc("in the middle")

    with pytest.raises(exc):
        _npz.write_atomic(str(target), half_write)
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["m.npz"]


def test_save_failing_midway_keeps_the_previous_model(tmp_path, monkeypatch):
    old = good_model()
    mc.save(old, tmp_path / "m")

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_record.np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space"):
        mc.save(good_model("numpy", "float32"), tmp_path / "m")
    monkeypatch.undo()
    same_model(mc.load(tmp_path / "m"), old)
    assert os.listdir(tmp_path) == ["m.npz"]


def test_file_permissions(tmp_path):
    net = good_model()
    mask = os.umask(0o022)
    os.umask(mask)
    mc.save(net, tmp_path / "new")
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o666 & ~mask
    os.chmod(tmp_path / "new.npz", 0o640)
    mc.save(net, tmp_path / "new")  # replacing keeps the file's mode
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


def test_saving_through_a_symlink_replaces_its_target(tmp_path):
    net = good_model()
    (tmp_path / "real").mkdir()
    mc.save(good_model("numpy", "float32"), tmp_path / "real" / "m.npz")
    os.symlink(tmp_path / "real" / "m.npz", tmp_path / "link.npz")
    mc.save(net, tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz")
    same_model(mc.load(tmp_path / "real" / "m.npz"), net)


_SAVE_FOREVER = textwrap.dedent("""
    import sys
    import mlpcore as mc
    net = mc.Sequential([mc.Dense(1500, 1500), mc.ReLU(), mc.Dense(1500, 1500)], seed=1,
                        loss="mse", dtype="float64", backend="numpy")  # 4.5 M parameters: about 108 MB with the moments
    print("saving", flush=True)
    while True:
        mc.save(net, sys.argv[1])
""")


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.9])
def test_a_kill_during_save_leaves_a_loadable_file(delay, tmp_path):
    old = good_model()
    target = tmp_path / "m.npz"
    mc.save(old, target)
    child = subprocess.Popen(
        [sys.executable, "-c", _SAVE_FOREVER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "saving\n"
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    loaded = mc.load(target)  # the old model or a complete new one, never a broken file
    if loaded.n_features_in_ == 4:
        same_model(loaded, old)
    else:
        assert loaded.n_features_in_ == 1500 and loaded.get_weights()[0].shape == (1500, 1500)
    print(
        f"killed after {delay} s: loaded the {'old' if loaded.n_features_in_ == 4 else 'new'}"
        f" model; files left: {sorted(os.listdir(tmp_path))}"
    )


# ---- damaged files -------------------------------------------------------------------------
def test_truncated_files(saved, tmp_path):
    net, _, data = saved
    cuts = sorted(
        set(
            list(range(0, 200))
            + list(range(200, len(data), 97))
            + list(range(len(data) - 200, len(data)))
        )
    )
    for cut in cuts:
        path = tmp_path / "cut.npz"
        path.write_bytes(data[:cut])
        with pytest.raises(mc.ModelFileError):
            mc.load(path)
    print(f"{len(cuts)} truncations of a {len(data)}-byte file: all ModelFileError")


def test_bit_flips(saved, tmp_path):
    """A flipped bit is detected (the zip's CRCs, the headers, the JSON checks) or, where it
    changes nothing that is read (e.g. a timestamp), loads the same model."""
    net, _, data = saved
    rng = np.random.default_rng(1)
    detected = same = 0
    for pos in rng.choice(len(data), size=400, replace=False):
        damaged = bytearray(data)
        damaged[pos] ^= 1 << int(rng.integers(8))
        path = tmp_path / "flip.npz"
        path.write_bytes(bytes(damaged))
        try:
            loaded = mc.load(path)
        except mc.ModelFileError:
            detected += 1
        else:
            same_model(loaded, net)
            same += 1
    print(f"400 bit flips: {detected} detected, {same} harmless")
    assert detected > 300


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", b"PK\x05\x06" + bytes(18), pickle.dumps({"config": 1}), b"\x93NUMPY garbage"],
)
def test_files_that_are_not_archives(content, tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(mc.ModelFileError):
        mc.load(path)


def test_a_plain_npy_file(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    os.replace(tmp_path / "a.npy", tmp_path / "a.npz")
    with pytest.raises(mc.ModelFileError):
        mc.load(tmp_path / "a.npz")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_objects_are_refused(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, path, _ = saved
    config, arrays = contents(path)
    write(tmp_path / "evil.npz", config, {**arrays, "weight_0": np.array([Evil()], dtype=object)})
    with pytest.raises(mc.ModelFileError, match="pickle"):
        mc.load(tmp_path / "evil.npz")
    np.savez(tmp_path / "evil2.npz", config=np.array([Evil()], dtype=object), **arrays)
    with pytest.raises(mc.ModelFileError, match="pickle"):
        mc.load(tmp_path / "evil2.npz")
    assert not os.path.exists(tmp_path / "pwned")


def test_a_header_announcing_a_huge_array(saved, tmp_path):
    """A crafted .npy header must not make load allocate what it announces."""
    _, path, _ = saved
    config, arrays = contents(path)
    write(tmp_path / "ok.npz", config, arrays)
    with (
        zipfile.ZipFile(tmp_path / "ok.npz") as src,
        zipfile.ZipFile(tmp_path / "huge.npz", "w") as dst,
    ):
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "weight_0.npy":
                header_end = data.index(b"\n") + 1
                header = data[:header_end].replace(b"'shape': (4, 6)", b"'shape': (99999999999, 6)")
                data = header + data[header_end:]
            dst.writestr(info.filename, data)
    with pytest.raises(mc.ModelFileError, match="header"):
        mc.load(tmp_path / "huge.npz")


# ---- crafted contents ----------------------------------------------------------------------
def _drop(name):
    return lambda c, a: (c, {k: v for k, v in a.items() if k != name})


def _set_array(name, value):
    return lambda c, a: (c, {**a, name: value(a[name]) if callable(value) else value})


def _set_config(key, value):
    def change(c, a):
        c = copy.deepcopy(c)
        if value is KeyError:
            del c[key]
        else:
            c[key] = value
        return c, a

    return change


def _set_layer(i, layer):
    def change(c, a):
        c = copy.deepcopy(c)
        c["layers"][i] = layer
        return c, a

    return change


CRAFTED = {
    # arrays
    "missing weight": _drop("weight_0"),
    "missing state": _drop("state_1"),
    "missing one moment": _drop("moment_v_2"),
    "extra array": _set_array("extra", np.zeros(3)),
    "transposed weight": _set_array("weight_0", lambda w: w.T.copy()),
    "flattened weight": _set_array("weight_0", lambda w: w.ravel()),
    "float32 weight in a float64 model": _set_array("weight_0", lambda w: w.astype(np.float32)),
    "integer weight": _set_array("weight_0", lambda w: w.astype(np.int64)),
    "complex weight": _set_array("weight_0", lambda w: w.astype(np.complex128)),
    "string weight": _set_array("weight_0", np.array("abc")),
    "NaN weight": _set_array("weight_2", lambda w: np.full_like(w, np.nan)),
    "infinite state": _set_array("state_0", lambda s: np.full_like(s, np.inf)),
    "negative running variance": _set_array("state_1", lambda s: -np.ones_like(s)),
    "negative second moment": _set_array("moment_v_0", lambda v: -np.ones_like(v)),
    # config: top level
    "config missing": lambda c, a: (None, a),
    "unknown config key": _set_config("surprise", 1),
    "no loss": _set_config("loss", KeyError),
    "unknown loss": _set_config("loss", "huber"),
    "loss not a string": _set_config("loss", ["mse"]),
    "unknown dtype": _set_config("dtype", "float16"),
    "dtype not matching the arrays": _set_config("dtype", "float32"),
    "unknown backend": _set_config("backend", "cuda"),
    "seed as a fraction": _set_config("seed", 5.5),
    "negative seed": _set_config("seed", "-1"),
    "seed not a number": _set_config("seed", "abc"),
    "huge seed": _set_config("seed", "9" * 30),
    "seed with 5000 digits": _set_config("seed", "1" * 5000),
    "negative epoch_": _set_config("epoch_", -1),
    "fractional step_": _set_config("step_", 1.5),
    "boolean epoch_": _set_config("epoch_", True),
    "epoch_ as text": _set_config("epoch_", "2"),
    "epoch_ 2**64": _set_config("epoch_", 2**64),
    "step_ 10**400": _set_config("step_", 10**400),
    "negative opt_steps_": _set_config("opt_steps_", -3),
    "no history": _set_config("history_", KeyError),
    "history a list": _set_config("history_", [1.0, 2.0]),
    "history without loss": _set_config("history_", {"val_loss": [1.0]}),
    "history loss a number": _set_config("history_", {"loss": 5}),
    "history with text": _set_config("history_", {"loss": ["a", 1.0]}),
    "history with null": _set_config("history_", {"loss": [1.0], "val_loss": None}),
    "history with a huge integer": _set_config("history_", {"loss": [10**400]}),
    "history with booleans": _set_config("history_", {"loss": [True]}),
    "optimizer_ a string": _set_config("optimizer_", "adam"),
    "unknown optimizer": _set_config("optimizer_", {"name": "adagrad"}),
    "optimizer beta1 2": _set_config("optimizer_", {"name": "adam", "beta1": 2.0}),
    "optimizer eps text": _set_config("optimizer_", {"name": "adam", "eps": "small"}),
    "optimizer eps 10**400": _set_config("optimizer_", {"name": "adam", "eps": 10**400}),
    "optimizer momentum a list": _set_config("optimizer_", {"name": "sgd", "momentum": [0]}),
    "optimizer with an extra key": _set_config("optimizer_", {"name": "sgd", "lr": 1}),
    "optimizer nesterov without momentum": _set_config(
        "optimizer_", {"name": "sgd", "nesterov": True}
    ),
    # config: layers
    "layers empty": _set_config("layers", []),
    "layers a dict": _set_config("layers", {"0": {}}),
    "layer a string": _set_layer(0, "Dense"),
    "layer without config": _set_layer(0, {"class": "Dense"}),
    "layer with an extra key": _set_layer(2, {"class": "ReLU", "config": {}, "x": 1}),
    "layer class Layer": _set_layer(2, {"class": "Layer", "config": {}}),
    "layer class Activation": _set_layer(2, {"class": "Activation", "config": {}}),
    "layer class from elsewhere": _set_layer(2, {"class": "Sequential", "config": {}}),
    "layer class a dotted path": _set_layer(2, {"class": "os.system", "config": {}}),
    "layer class not a string": _set_layer(2, {"class": 3, "config": {}}),
    "layer config with an unknown argument": _set_layer(2, {"class": "ReLU", "config": {"x": 1}}),
    "Dense with a negative width": _set_layer(
        0, {"class": "Dense", "config": {"n_in": -4, "n_out": 6}}
    ),
    "Dense with a huge width": _set_layer(
        0, {"class": "Dense", "config": {"n_in": 2**31 - 1, "n_out": 2**31 - 1}}
    ),
    "Dense with a float width": _set_layer(
        0, {"class": "Dense", "config": {"n_in": 4.0, "n_out": 6}}
    ),
    "Dropout p 10**400": _set_layer(3, {"class": "Dropout", "config": {"p": 10**400}}),
    "Dropout p text": _set_layer(3, {"class": "Dropout", "config": {"p": "0.5"}}),
    "widths that do not chain": _set_layer(
        4, {"class": "Dense", "config": {"n_in": 5, "n_out": 3}}
    ),
    "an extra layer": lambda c, a: (
        {**c, "layers": c["layers"] + [{"class": "Dense", "config": {"n_in": 3, "n_out": 3}}]},
        a,
    ),
    "one output for softmax": _set_layer(4, {"class": "Dense", "config": {"n_in": 6, "n_out": 1}}),
    # config: the text itself
    "config not JSON": lambda c, a: ("{not json", a),
    "config a JSON list": lambda c, a: ("[1, 2]", a),
    "config deeply nested": lambda c, a: ("[" * 100000 + "]" * 100000, a),
    "config a number array": lambda c, a: (np.arange(3.0), a),
    "config without format": _set_config("format", KeyError),
    "another format": _set_config("format", "keras-3"),
    "format not a string": _set_config("format", 1),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files(case, saved, tmp_path):
    _, path, _ = saved
    config, arrays = CRAFTED[case](*contents(path))
    out = tmp_path / "crafted.npz"
    if config is None:
        np.savez(out, **arrays)
    elif isinstance(config, str):
        write(out, None, arrays, raw_config=config)
    elif isinstance(config, np.ndarray):
        np.savez(out, config=config, **arrays)
    else:
        write(out, config, arrays)
    with pytest.raises(mc.ModelFileError) as err:
        mc.load(out)
    assert str(err.value)
    print(f"{case}: {err.value}")


def test_a_newer_format_says_so(saved, tmp_path):
    _, path, _ = saved
    config, arrays = contents(path)
    write(tmp_path / "new.npz", {**config, "format": "mlpcore-sequential-2"}, arrays)
    with pytest.raises(mc.ModelFileError, match="newer"):
        mc.load(tmp_path / "new.npz")


def test_members_that_disagree_with_the_config_are_refused(saved, tmp_path):
    """The archive holds exactly the members its config implies: a file whose optimizer
    moments are missing (a flipped bit in the zip directory can hide members) is refused,
    never loaded with the state silently dropped; so is one with members its config lacks."""
    net, path, _ = saved
    config, arrays = contents(path)
    write(
        tmp_path / "no_moments.npz",
        config,
        {k: v for k, v in arrays.items() if not k.startswith("moment_")},
    )
    with pytest.raises(mc.ModelFileError, match="disagree with its config; missing moment_m_0"):
        mc.load(tmp_path / "no_moments.npz")
    write(tmp_path / "extra.npz", config, {**arrays, "weight_99": arrays["weight_0"]})
    with pytest.raises(mc.ModelFileError, match="not in the config: weight_99"):
        mc.load(tmp_path / "extra.npz")
    cfg = copy.deepcopy(config)
    del cfg["optimizer_"], cfg["opt_steps_"]
    write(tmp_path / "no_counters.npz", cfg, arrays)
    with pytest.raises(mc.ModelFileError, match="lacks opt_steps_, optimizer_"):
        mc.load(tmp_path / "no_counters.npz")


def test_a_bit_flip_in_the_directory_that_renames_members(saved, tmp_path):
    """One flipped bit in a central-directory file name (moment_* -> noment_*): refused."""
    _, path, _ = saved
    data = bytearray(open(path, "rb").read())
    start = data.index(b"PK\x05\x06")  # end of central directory
    cd_offset = int.from_bytes(data[start + 16 : start + 20], "little")
    i = cd_offset
    while True:
        j = data.find(b"moment_", i)
        if j < 0:
            break
        data[j] ^= 0x03  # 'm' -> 'n'
        i = j + 1
    (tmp_path / "flip.npz").write_bytes(bytes(data))
    with pytest.raises(mc.ModelFileError):
        mc.load(tmp_path / "flip.npz")


def _peak_rss_of_child(code):
    """Runs code in a fresh interpreter; returns (its stdout, its peak RSS in bytes)."""
    wrapped = (
        code + "\nimport resource; print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    r = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out, rss = r.stdout.rsplit("RSS", 1)
    return out, int(rss) * 1024


def test_a_zip_bomb_is_refused_before_it_is_inflated(saved, tmp_path):
    """A 1 MB file holding one deflated member of 1 GiB whose header matches its size but not
    the config: refused from the header, without decompressing it (before: the peak memory
    grew from 315 MiB to 2.2 GiB before the ModelFileError)."""
    _, path, _ = saved
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == "weight_0.npy":
                n = (1 << 30) // 8
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (n // 6, 6)}
                )
                with dst.open("weight_0.npy", "w", force_zip64=True) as f:
                    f.write(header.getvalue())
                    zeros = bytes(1 << 24)
                    left = (n // 6) * 6 * 8
                    while left:
                        f.write(zeros[: min(left, len(zeros))])
                        left -= min(left, len(zeros))
            else:
                dst.writestr(info, src.read(info))
    assert bomb.stat().st_size < 2 << 20
    code = (
        f"import mlpcore as mc, numpy as np\n"
        f"mc.load({str(path)!r})\n"  # the baseline: a normal load in the same process
        f"try:\n    mc.load({str(bomb)!r})\nexcept mc.ModelFileError as e:\n    print(e)\n"
    )
    baseline_code = f"import mlpcore as mc, numpy as np\nmc.load({str(path)!r})\n"
    out, peak = _peak_rss_of_child(code)
    _, base = _peak_rss_of_child(baseline_code)
    print(
        f"peak RSS: loading the bomb {peak / 2**20:.0f} MiB, a normal load {base / 2**20:.0f} MiB"
    )
    assert "weight_0.npy" in out and "config implies float64(4, 6)" in out, out
    assert peak - base < 64 << 20


def test_a_config_announcing_a_model_too_large_for_memory(saved, tmp_path):
    """The members a config implies are checked against the available memory before any is
    read: a small file whose config declares a 10^6 x 10^6 layer raises MemoryError."""
    _, path, _ = saved
    config, arrays = contents(path)
    config = copy.deepcopy(config)
    config["layers"][0]["config"] = {"n_in": 4, "n_out": 10**6}
    config["layers"][1:] = [{"class": "Dense", "config": {"n_in": 10**6, "n_out": 10**6}}]
    write(tmp_path / "big.npz", config, arrays)
    with pytest.raises(MemoryError, match="arrays of the model file"):
        mc.load(tmp_path / "big.npz")


def test_load_time_is_linear_in_the_number_of_layers(tmp_path, monkeypatch):
    """A model of many layers loads (before: 100k Identity layers took 13.5 s, 200k 57 s:
    the initial parameters looked ahead over every later layer for each layer). No timing
    here: the work is counted, the look-ahead visits each layer once."""
    from mlpcore._layout import Layout

    seen = []
    monkeypatch.setattr(
        mc.Identity, "init_transparent", property(lambda self: seen.append(1) or True), raising=True
    )
    n = 2000
    layout = Layout([mc.Dense(4, 3)] + [mc.Identity() for _ in range(n)], input_dim=4)
    layout.initial_params(0)
    assert len(seen) <= 2 * n, len(seen)
    monkeypatch.undo()
    net = mc.Sequential(
        [mc.Dense(4, 3)] + [mc.Identity() for _ in range(20000)], input_dim=4, loss="mse"
    )
    mc.save(net, tmp_path / "deep.npz")
    back = mc.load(tmp_path / "deep.npz")
    assert len(back.layers) == 20001


def test_a_loaded_model_trains_on(saved, backend):
    """The stored history and counters are usable: the next fit appends to them."""
    net, path, _ = saved
    loaded = mc.load(path, backend=backend)
    before = len(loaded.history_["loss"])
    rng = np.random.default_rng(3)
    loaded.fit(
        rng.normal(size=(10, 4)),
        rng.integers(0, 3, 10),
        epochs=1,
        validation_data=(rng.normal(size=(5, 4)), rng.integers(0, 3, 5)),
    )
    assert len(loaded.history_["loss"]) == before + 1 and loaded.epoch_ == net.epoch_ + 1


def test_a_bad_backend_argument_is_a_plain_value_error(saved):
    _, path, _ = saved
    with pytest.raises(ValueError, match="backend") as err:
        mc.load(path, backend="cuda")
    assert not isinstance(err.value, mc.ModelFileError)


def test_native_round_trip_with_every_suffix(tmp_path):
    require_backend("native")
    net = good_model("native", "float32")
    mc.save(net, tmp_path / "n")
    same_model(mc.load(tmp_path / "n"), net)
