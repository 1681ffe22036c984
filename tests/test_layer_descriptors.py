"""The layer descriptors (mlpcore.layers), the rules they impose, their agreement with the
twin's kind table, the one serialisation path (get_config/from_config, mlpcore.save/load,
pickling) and the engine interface (mlpcore._engine.Engine)."""

import inspect
import json
import pickle

import numpy as np
import pytest

import mlpcore
from mlpcore import (
    ELU,
    GELU,
    BatchNorm,
    Dense,
    Dropout,
    Identity,
    LayerNorm,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Sign,
    SiLU,
    Softplus,
    Step,
    Tanh,
)
from mlpcore import (
    layers as mlayers,
)
from mlpcore._engine import Engine
from mlpcore._record import capture, restore
from mlpcore.reference import activations, layer_kinds
from mlpcore.reference.network import Network

from conftest import assert_all_equal, make

# one instance of every kind, with non-default arguments where there are any
EXAMPLES = {
    "Dense": lambda: Dense(3, 5),
    "BatchNorm": lambda: BatchNorm(4, momentum=0.3, eps=1e-3),
    "Dropout": lambda: Dropout(0.25),
    "Identity": Identity,
    "Step": Step,
    "Sign": Sign,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "ReLU": ReLU,
    "LeakyReLU": lambda: LeakyReLU(-0.5),
    "GELU": GELU,
    "LayerNorm": lambda: LayerNorm(4, eps=1e-3),
    "SiLU": SiLU,
    "ELU": lambda: ELU(alpha=0.5),
    "Softplus": Softplus,
}


def test_every_registered_kind_has_an_example():
    assert set(mlayers.registered()) == set(EXAMPLES)


# ---- per-layer configuration ---------------------------------------------------------------
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_layer_config_round_trip(name):
    layer = EXAMPLES[name]()
    d = json.loads(json.dumps(mlayers.serialize(layer)))  # JSON-able
    assert d == {"class": name, "config": layer.get_config()}
    back = mlayers.deserialize(d)
    assert type(back) is type(layer) and back.get_config() == layer.get_config()
    assert repr(back) == repr(layer)
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    width = layer.n_in or 6
    assert back.spec(width) == layer.spec(width)
    assert back.spec(width)[:3] == (layer.kind, width, layer.output_width(width))


@pytest.mark.parametrize(
    "d,match",
    [
        ({"class": "Swish", "config": {}}, "unknown layer class 'Swish'; known layers: Dense"),
        ({"class": 3, "config": {}}, "unknown layer class 3"),
        ({"class": "Dense"}, "'class': name, 'config'"),
        ("Dense", "'class': name, 'config'"),
        ({"class": "Dense", "config": {"n_in": 2}}, "Dense: bad config"),
        ({"class": "Dense", "config": {"n_in": 2, "n_out": 3, "bias": False}}, "Dense: bad config"),
        ({"class": "Dense", "config": [2, 3]}, "Dense: config must be a dict"),
        ({"class": "Dense", "config": {"n_in": 0, "n_out": 3}}, "Dense: n_in must be an integer"),
        ({"class": "LeakyReLU", "config": {"negative_slope": "x"}}, "LeakyReLU: negative_slope"),
        ({"class": "GELU", "config": {"approximate": "tanh"}}, "GELU: bad config"),
    ],
)
def test_bad_layer_descriptions(d, match):
    with pytest.raises(ValueError, match=match):
        mlayers.deserialize(d)


def test_subclasses_register_without_replacing_builtin_names():
    class Swish(mlayers.Activation):
        kind = "swish"

    assert mlayers.deserialize({"class": "Swish", "config": {}}).kind == "swish"

    class ReLU(mlayers.Activation):  # noqa: F811 - a user class with a builtin's name
        kind = "relu"

    assert mlayers.registered()["ReLU"] is mlpcore.ReLU
    mlayers._REGISTRY.pop("Swish")


# ---- the descriptors agree with the twin's kind table -----------------------------------------
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_descriptor_matches_the_twin_kind_table(name):
    layer = EXAMPLES[name]()
    width = layer.n_in or 6
    spec = layer.spec(width)
    entry = layer_kinds.KINDS[layer.kind]
    assert [(p.shape, p.weight_decay) for p in layer.params(width)] == entry.params(spec)
    assert [(s.shape, s.initial) for s in layer.state(width)] == entry.state(spec)
    assert layer.needs_batch_statistics == entry.needs_batch_statistics
    if isinstance(layer, mlayers.Activation):
        assert layer.differentiable == (layer.kind in activations.DIFFERENTIABLE)
    # the engine starts from the descriptor's initial state
    net = Network([spec], "mse", np.float64, 0)
    assert_all_equal(
        [net.get_state()],
        [np.concatenate([a.ravel() for a in layer.initial_state(width)] or [np.zeros(0)])],
        "initial state",
    )


def test_kind_table_covers_exactly_the_descriptor_kinds():
    assert {cls.kind for cls in mlayers.registered().values()} == set(layer_kinds.NAMES)


def test_twin_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown layer kind 'swish'; known kinds: dense"):
        Network([("dense", 2, 2), ("swish", 2, 2)], "mse", np.float64, 0)


# ---- rules the descriptors impose ------------------------------------------------------------
def test_rule_flags():
    flags = {
        name: (f().needs_batch_statistics, f().differentiable, f().relu_like, f().init_transparent)
        for name, f in EXAMPLES.items()
    }
    assert {n for n, f in flags.items() if f[0]} == {"BatchNorm"}
    assert {n for n, f in flags.items() if not f[1]} == {"Step", "Sign"}
    assert {n for n, f in flags.items() if f[2]} == {
        "ReLU",
        "LeakyReLU",
        "GELU",
        "SiLU",
        "ELU",
        "Softplus",
    }
    assert {n for n, f in flags.items() if f[3]} == {"BatchNorm", "LayerNorm", "Dropout"}


@pytest.mark.parametrize("layer", [BatchNorm(4), LayerNorm(4), Dropout(0.1), ReLU(), GELU()])
def test_batch_statistics_rule_comes_from_the_flag(layer, backend):
    model = make([Dense(3, 4), layer, Dense(4, 2)], backend, seed=0)
    X, y = np.ones((1, 3)), np.ones((1, 2))
    if layer.needs_batch_statistics:
        with pytest.raises(
            ValueError,
            match=r"BatchNorm in training mode needs at least 2 "
            r"samples per batch \(X has 1\)",
        ):
            model.predict(X, training=True)
        with pytest.raises(ValueError, match=r"batch_size=1"):
            model.fit(np.ones((4, 3)), np.ones((4, 2)), batch_size=1)
    else:
        model.predict(X, training=True)
        model.fit(X, y, batch_size=1)


@pytest.mark.parametrize("act", [Step, Sign])
def test_differentiability_rule(act, backend):
    model = make([Dense(2, 3), act(), Dense(3, 1)], backend, seed=0)
    for call in (
        lambda: model.gradients(np.ones((2, 2)), np.ones(2)),
        lambda: model.fit(np.ones((2, 2)), np.ones(2)),
    ):
        with pytest.raises(ValueError, match=r"layers\[1\] is .*zero almost everywhere"):
            call()
    # below the first layer with parameters nothing needs a gradient: allowed
    make([act(), Dense(2, 1)], backend, seed=0).fit(np.ones((2, 2)), np.ones(2))


def test_widths_chain_through_width_keeping_layers():
    model = Sequential(
        [Tanh(), Dense(3, 4), GELU(), Dropout(0.2), LeakyReLU(), BatchNorm(4), Dense(4, 2)],
        loss="mse",
        backend="numpy",
        seed=0,
    )
    assert [l.spec(w)[1:3] for l, w in zip(model.layers, model._layout.widths)] == [
        (3, 3),
        (3, 4),
        (4, 4),
        (4, 4),
        (4, 4),
        (4, 4),
        (4, 2),
    ]
    assert (model.n_features_in_, model.n_outputs_) == (3, 2)


# ---- Sequential.get_config / from_config -----------------------------------------------------
def all_kinds_model(backend, dtype="float64", seed=7):
    return make(
        [
            Dense(3, 5),
            BatchNorm(5),
            LeakyReLU(0.2),
            Dropout(0.1),
            Dense(5, 4),
            GELU(),
            Dense(4, 4),
            Tanh(),
            Dense(4, 4),
            Sigmoid(),
            Dense(4, 4),
            ReLU(),
            Identity(),
            Step(),
            Sign(),
            Dense(4, 3),
        ],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=seed,
    )


def test_sequential_config_round_trip(backend, dtype):
    model = all_kinds_model(backend, dtype, seed=2**64 - 1)
    config = json.loads(json.dumps(model.get_config()))
    assert config["seed"] == 2**64 - 1 and config["backend"] == backend
    clone = Sequential.from_config(config)
    assert repr(clone) == repr(model)
    assert_all_equal(
        clone.get_weights() + clone.get_state(),
        model.get_weights() + model.get_state(),
        "initial weights and state",
    )
    assert Sequential.from_config(config, backend="numpy").backend == "numpy"


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda c: c.pop("loss"), "keys layers, loss, dtype, seed, backend"),
        (lambda c: c.update(extra=1), "keys layers, loss, dtype, seed, backend"),
        (lambda c: c.update(layers="Dense"), "config\\['layers'\\] must be a list"),
        (lambda c: c["layers"].append({"class": "Conv2d", "config": {}}), "unknown layer class"),
        (
            lambda c: c["layers"].append({"class": "Dense", "config": {"n_in": 9, "n_out": 1}}),
            "expects 9 inputs",
        ),
        (lambda c: c.update(loss="huber"), "unknown loss"),
        (lambda c: c.update(dtype="float16"), "dtype"),
        (lambda c: c.update(seed=-1), "seed"),
        (lambda c: c.update(backend="gpu"), "unknown backend"),
    ],
)
def test_from_config_rejects_bad_configs(mutate, match):
    config = all_kinds_model("numpy").get_config()
    mutate(config)
    with pytest.raises(ValueError, match=match):
        Sequential.from_config(config)


# ---- the whole model: one record for save/load and pickling ------------------------------------
def trained(backend):
    model = make(
        [Dense(3, 6), BatchNorm(6), GELU(), Dropout(0.2), Dense(6, 4), LeakyReLU(0.1), Dense(4, 2)],
        backend,
        loss="softmax_cross_entropy",
        seed=3,
    )
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, 30)
    model.fit(X, y, epochs=2, batch_size=8, optimizer="adam", lr=1e-2, validation_data=(X, y))
    return model, X, y


def assert_same_model(a, b):
    assert repr(a) == repr(b)
    assert (a.epoch_, a.step_, a.opt_steps_, a.optimizer_, a.history_) == (
        b.epoch_,
        b.step_,
        b.opt_steps_,
        b.optimizer_,
        b.history_,
    )
    assert_all_equal(a.get_weights() + a.get_state(), b.get_weights() + b.get_state(), "arrays")
    for x, y in zip(a.get_optimizer_state(), b.get_optimizer_state()):
        assert_all_equal(x, y, "moments")


def test_save_load_and_pickle_restore_the_same_model(backend, tmp_path):
    model, X, y = trained(backend)

    def saved_and_loaded(m):
        mlpcore.save(m, tmp_path / "m.npz")
        return mlpcore.load(tmp_path / "m.npz")

    for copier in (
        saved_and_loaded,
        lambda m: pickle.loads(pickle.dumps(m)),
        lambda m: Sequential._from_record(restore(*capture(m))),
    ):
        copy = copier(model)
        assert_same_model(copy, model)
        # and they train on identically: same shuffles, masks and optimizer moments
        assert copy.fit(X, y, epochs=1, batch_size=8, optimizer="adam", lr=1e-2) == model.fit(
            X, y, epochs=1, batch_size=8, optimizer="adam", lr=1e-2
        )
        model = copy


def test_a_file_without_the_optimizer_counters_is_refused(tmp_path):
    # the 0.1 format always holds the moments, opt_steps_ and optimizer_
    config = {
        "format": "mlpcore-sequential-1",
        "layers": [{"class": "Dense", "config": {"n_in": 2, "n_out": 1}}],
        "loss": "mse",
        "dtype": "float64",
        "seed": 1,
        "backend": "numpy",
        "epoch_": 4,
        "step_": 9,
        "history_": {"loss": [1.0, 0.5]},
    }
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "old.npz",
        config=np.array(json.dumps(config)),
        weight_0=rng.normal(size=(2, 1)),
        weight_1=rng.normal(size=1),
    )
    with pytest.raises(mlpcore.ModelFileError, match="lacks opt_steps_, optimizer_"):
        mlpcore.load(tmp_path / "old.npz")


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda m, a: m.pop("step_"), "lacks step_"),
        (lambda m, a: m.update(epoch_=-1), "saved epoch_ must be a non-negative integer"),
        (lambda m, a: m.update(opt_steps_=1.5), "saved opt_steps_"),
        (lambda m, a: m.update(optimizer_={"name": "adagrad"}), "unknown optimizer 'adagrad'"),
        (lambda m, a: m.update(optimizer_={"lr_": 1}), "saved optimizer_ must be a dict"),
        (lambda m, a: m.update(history_={"val_loss": []}), "history_"),
        (lambda m, a: m.update(history_={"loss": ["x"]}), "history_"),
        (lambda m, a: m["layers"][0]["config"].update(n_out=7), "expects 6 inputs"),
        (lambda m, a: m.update(loss="huber"), "unknown loss"),
        (lambda m, a: a.pop("weight_0"), "arrays must be"),
        (lambda m, a: a.update(weight_99=np.zeros(1)), "arrays must be"),
        (lambda m, a: a.update(weight_0=np.zeros((2, 2))), r"saved weights\[0\] must have shape"),
        (lambda m, a: a.update(state_1=-np.ones(6)), "running variance and must be >= 0"),
        (lambda m, a: a.update(moment_v_0=-np.ones((3, 6))), "second moments"),
        (lambda m, a: a.update(moment_m_0=np.full((3, 6), np.nan)), "NaN"),
    ],
)
def test_restore_checks_everything_before_building(mutate, match, monkeypatch):
    model, _, _ = trained("numpy")
    meta, arrays = capture(model)
    mutate(meta, arrays)
    built = []
    original = Sequential.__init__
    monkeypatch.setattr(
        Sequential, "__init__", lambda self, *a, **k: (built.append(1), original(self, *a, **k))[1]
    )
    with pytest.raises(ValueError, match=match):
        restore(meta, arrays)
    assert not built, "restore built a model before it had checked everything"


def test_load_rejects_a_bad_format(tmp_path):
    np.savez(tmp_path / "x.npz", config=np.array(json.dumps({"format": "mlpcore-sequential-9"})))
    with pytest.raises(ValueError, match="newer mlpcore"):
        mlpcore.load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not an mlpcore model file"):
        mlpcore.load(tmp_path / "y.npz")


# ---- the engine interface ------------------------------------------------------------------
def _engines():
    yield Network([("dense", 2, 3), ("gelu", 3, 3), ("dense", 3, 1)], "mse", np.float64, 0)
    try:
        from mlpcore import _core
    except ImportError:
        return
    yield _core.Network64([("dense", 2, 3), ("gelu", 3, 3), ("dense", 3, 1)], "mse", 0)


def test_both_engines_implement_the_engine_protocol():
    members = [n for n in dir(Engine) if not n.startswith("_")]
    for engine in _engines():
        assert isinstance(engine, Engine), type(engine)
        assert (engine.n_inputs, engine.n_outputs) == (2, 1)
        for name in members:
            assert hasattr(engine, name), f"{type(engine).__name__} lacks {name}"


def test_twin_methods_have_the_protocol_signatures():
    for name, member in inspect.getmembers(Engine, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = list(inspect.signature(getattr(Network, name)).parameters)
        theirs = list(inspect.signature(member).parameters)
        assert ours == theirs, f"{name}: {ours} vs the protocol's {theirs}"


def test_unpickling_refuses_anything_but_a_record():
    model, _, _ = trained("numpy")
    fields = {"layers": model.layers, "weights": model.get_weights(), "state": model.get_state()}
    with pytest.raises(ValueError, match="not the pickled state of an mlpcore Sequential"):
        Sequential.__new__(Sequential).__setstate__(fields)
    with pytest.raises(ValueError, match="not the pickled state of an mlpcore Sequential"):
        Sequential.__new__(Sequential).__setstate__({"weights": []})
