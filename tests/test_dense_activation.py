"""Keras' shorthand Dense(64, activation="relu"): a model expands it at construction into the
Dense layer and the activation layer, so everything downstream (summary, config, save/load,
pickling, ONNX, torch, both engines) sees the same model as the one written out by hand."""

import json
import pickle

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import ELU, Dense, LeakyReLU, ReLU, Sequential, SiLU
from mlpcore import layers as mlayers

from conftest import assert_all_equal

# every activation name Dense takes, and the layer it stands for
NAMES = {
    "relu": "ReLU()",
    "sigmoid": "Sigmoid()",
    "tanh": "Tanh()",
    "identity": "Identity()",
    "leaky_relu": "LeakyReLU(negative_slope=0.01)",
    "gelu": "GELU()",
    "silu": "SiLU()",
    "swish": "SiLU()",
    "elu": "ELU(alpha=1.0)",
    "softplus": "Softplus()",
    "step": "Step()",
    "sign": "Sign()",
}


def test_every_activation_kind_has_a_name():
    kinds = {
        cls.kind for cls in mlayers.registered().values() if issubclass(cls, mlayers.Activation)
    }
    assert kinds <= set(NAMES), kinds - set(NAMES)


@pytest.mark.parametrize("name", list(NAMES))
def test_names_expand_into_dense_and_the_activation(name):
    net = Sequential(
        [Dense(4, activation=name), Dense(2)], input_dim=3, loss="mse", backend="numpy", seed=0
    )
    assert [repr(l) for l in net.layers] == ["Dense(4)", NAMES[name], "Dense(2)"]
    assert net.n_features_in_ == 3 and net.n_outputs_ == 2


def test_linear_and_none_add_nothing():
    for activation in (None, "linear"):
        net = Sequential(
            [Dense(3, 4, activation=activation), Dense(2)], loss="mse", seed=0, backend="numpy"
        )
        assert [repr(l) for l in net.layers] == ["Dense(3, 4)", "Dense(2)"]


def _pair(backend, dtype="float64"):
    short = Sequential(
        [
            Dense(5, activation="relu"),
            Dense(4, activation=LeakyReLU(0.2)),
            Dense(3, activation="elu"),
            Dense(2),
        ],
        input_dim=3,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=11,
        backend=backend,
    )
    explicit = Sequential(
        [Dense(5), ReLU(), Dense(4), LeakyReLU(0.2), Dense(3), ELU(), Dense(2)],
        input_dim=3,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=11,
        backend=backend,
    )
    return short, explicit


def test_the_same_model_as_written_out(backend, rng):
    short, explicit = _pair(backend)
    assert repr(short) == repr(explicit)
    assert short.get_config() == explicit.get_config()
    assert str(short.summary()) == str(explicit.summary())
    # the same initial weights (He before ReLU, LeakyReLU, ELU), predictions and training
    assert_all_equal(short.get_weights(), explicit.get_weights(), "initial weights")
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    assert_all_equal([short.predict(X)], [explicit.predict(X)], "predict")
    assert short.fit(X, y, epochs=2, batch_size=5) == explicit.fit(X, y, epochs=2, batch_size=5)
    assert_all_equal(short.get_weights(), explicit.get_weights(), "weights after fit")


def test_config_save_load_and_pickle(tmp_path, rng):
    short, _ = _pair("native")
    X = rng.normal(size=(6, 3))
    clone = Sequential.from_config(json.loads(json.dumps(short.get_config())))
    mc.save(short, tmp_path / "m.npz")
    for copy in (clone, mc.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(short))):
        assert repr(copy) == repr(short)
        assert_all_equal([copy.predict(X)], [short.predict(X)], "predict")


def test_a_dense_with_activation_round_trips_its_own_config():
    for layer in (
        Dense(3, 4, activation="relu"),
        Dense(4, activation="swish"),
        Dense(2, 5, activation=ELU(0.3)),
    ):
        d = json.loads(json.dumps(mlayers.serialize(layer)))
        back = mlayers.deserialize(d)
        assert back.get_config() == layer.get_config() and repr(back) == repr(layer)
        assert [repr(l) for l in back.expand()] == [repr(l) for l in layer.expand()]
    assert repr(Dense(4, activation="swish")) == "Dense(4, activation='silu')"
    assert Dense(2, 5, activation=ELU(0.3)).get_config() == {
        "n_in": 2,
        "n_out": 5,
        "activation": {"class": "ELU", "config": {"alpha": 0.3}},
    }


def test_the_users_layer_objects_are_not_shared():
    act = SiLU()
    layer = Dense(3, 4, activation=act)
    net = Sequential([layer, Dense(1)], loss="mse", seed=0, backend="numpy")
    assert net.layers[1] is not act and net.layers[0] is not layer
    assert layer.activation is act  # the user's descriptor is unchanged


def test_onnx_and_torch_see_the_expanded_layers(rng):
    torch = pytest.importorskip("torch")
    short, explicit = _pair("native")
    module = mc.to_torch(short)
    assert [type(m).__name__ for m in module] == [
        "Linear",
        "ReLU",
        "Linear",
        "LeakyReLU",
        "Linear",
        "ELU",
        "Linear",
    ]
    X = rng.normal(size=(8, 3))
    with torch.no_grad():
        z = module(torch.from_numpy(X))
    np.testing.assert_allclose(
        torch.softmax(z, -1).numpy(), short.predict(X), rtol=1e-12, atol=1e-14
    )
    pytest.importorskip("onnx")
    a, b = mc.onnx.export(short), mc.onnx.export(explicit)
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]


@pytest.mark.parametrize(
    "activation,match",
    [
        ("softmax", "the softmax belongs to the loss"),
        ("selu", "known names: identity, step, sign"),
        ("ReLU", "activation must be None, an activation's name"),
        (ReLU, "activation must be None"),  # the class, not a layer
        (3, "activation must be None"),
        (Dense(2), "activation must be None"),
    ],
)
def test_bad_activations(activation, match):
    with pytest.raises(ValueError, match=match):
        Dense(4, activation=activation)


def test_a_final_sigmoid_with_binary_cross_entropy_is_refused():
    # Keras writes Dense(1, activation="sigmoid") + binary_crossentropy; here the loss applies
    # the sigmoid, and a second one would be another model
    with pytest.raises(ValueError, match="applies the sigmoid itself: drop activation='sigmoid'"):
        Sequential(
            [Dense(3, 4, activation="relu"), Dense(1, activation="sigmoid")],
            loss="binary_crossentropy",
            seed=0,
        )
    # before another loss, or not on the last layer, it is a layer like any other
    Sequential([Dense(3, 1, activation="sigmoid")], loss="mse", seed=0)
    Sequential([Dense(3, 4, activation="sigmoid"), Dense(1)], loss="binary_cross_entropy", seed=0)
