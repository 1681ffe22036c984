"""The first link of the chain of trust: central finite differences (float64) check every
backward pass of the NumPy twin, and the whole reference Network's gradients()."""

import numpy as np
import pytest

from mlpcore.reference import activations, layers, losses
from mlpcore.reference.network import Network

from conftest import assert_close, numerical_gradient

# Central differences with eps = 1e-6 are accurate to about 1e-9 relative (truncation eps^2,
# rounding 1e-16 / eps), so these tolerances still catch any wrong term.
FD = {"rtol": 1e-6, "atol": 1e-8}

SHAPES = [(1, 3, 2), (4, 3, 5), (7, 1, 1), (5, 6, 3)]  # (batch, inputs, outputs)


def weighted_sum(G, f):
    """The scalar L = sum(G * f()) whose gradient w.r.t. f's output is G."""
    return lambda: float(np.sum(G * f()))


# ---- dense ---------------------------------------------------------------------------------
@pytest.mark.parametrize("B,I,O", SHAPES)
def test_dense_backward(B, I, O, rng):
    x, w, b = rng.normal(size=(B, I)), rng.normal(size=(I, O)), rng.normal(size=O)
    G = rng.normal(size=(B, O))
    dx, dw, db = layers.dense_backward(G, x, w)
    L = weighted_sum(G, lambda: layers.dense_forward(x, w, b))
    assert_close(dx, numerical_gradient(L, x), **FD, what="dx")
    assert_close(dw, numerical_gradient(L, w), **FD, what="dW")
    assert_close(db, numerical_gradient(L, b), **FD, what="db")


def test_dense_forward_is_x_times_w_plus_b():
    # one sample, W of shape (n_in=2, n_out=3): z_j = sum_i x_i W_ij + b_j
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [3.0, 1.0, 2.0]])
    b = np.array([0.5, 0.0, -0.5])
    # z = [1*1 + 2*3 + 0.5, 1*0 + 2*1 + 0, 1*(-1) + 2*2 - 0.5] = [7.5, 2, 2.5]
    np.testing.assert_array_equal(layers.dense_forward(x, w, b), [[7.5, 2.0, 2.5]])


# ---- activations ---------------------------------------------------------------------------
# (name, param): leaky_relu with its default slope, a steep one and a negative one
ACTIVATION_CASES = [
    ("identity", 0.0),
    ("sigmoid", 0.0),
    ("tanh", 0.0),
    ("relu", 0.0),
    ("leaky_relu", 0.01),
    ("leaky_relu", 1.7),
    ("leaky_relu", -0.3),
    ("gelu", 0.0),
    ("silu", 0.0),
    ("elu", 1.0),
    ("elu", 0.3),
    ("elu", -2.0),
    ("softplus", 0.0),
]


def test_activation_cases_cover_every_differentiable_activation():
    assert {name for name, _ in ACTIVATION_CASES} == set(activations.DIFFERENTIABLE)


@pytest.mark.parametrize("name,param", ACTIVATION_CASES)
@pytest.mark.parametrize("B,F", [(1, 1), (3, 4), (6, 2)])
def test_activation_backward(name, param, B, F, rng):
    z = rng.normal(0, 2, size=(B, F))
    if name in ("relu", "leaky_relu", "elu"):  # stay away from the kink at 0
        z = np.where(np.abs(z) < 0.1, 0.5, z)
    G = rng.normal(size=(B, F))
    h = activations.activation_forward(name, z, param)
    dz = activations.activation_backward(name, G, z, h, param)
    num = numerical_gradient(
        weighted_sum(G, lambda: activations.activation_forward(name, z, param)), z
    )
    assert_close(dz, num, **FD, what=f"{name}'")


def test_relu_derivative_at_zero_is_zero():
    z = np.array([[0.0, -0.0, 1e-300, -1e-300]])
    h = activations.activation_forward("relu", z)
    np.testing.assert_array_equal(
        activations.activation_backward("relu", np.ones_like(z), z, h), [[0.0, 0.0, 1.0, 0.0]]
    )


def test_leaky_relu_by_hand():
    # slope 0.1: h = [-0.2, 0 (z = 0 takes the slope side: 0.1 * 0), 3]; h' = [0.1, 0.1, 1]
    z = np.array([[-2.0, 0.0, 3.0]])
    h = activations.activation_forward("leaky_relu", z, 0.1)
    np.testing.assert_array_equal(h, [[-0.2, 0.0, 3.0]])
    np.testing.assert_array_equal(
        activations.activation_backward("leaky_relu", np.ones_like(z), z, h, 0.1), [[0.1, 0.1, 1.0]]
    )
    # the default parameter 0.0 of the functions is ReLU's slope: the same values as relu
    np.testing.assert_array_equal(
        activations.activation_forward("leaky_relu", z), activations.activation_forward("relu", z)
    )


def test_gelu_by_hand():
    # GELU(z) = z Phi(z): Phi(0) = 1/2, Phi(1) = 0.841344746068543 (tables), Phi(-1) = 1 - Phi(1)
    # so h = [0, 0.841344746068543, -0.158655253931457]; h'(0) = Phi(0) + 0 = 1/2,
    # h'(1) = Phi(1) + phi(1) = 0.841344746068543 + 0.241970724519143 = 1.083315470587686
    z = np.array([[0.0, 1.0, -1.0]])
    h = activations.activation_forward("gelu", z)
    assert_close(
        h, [[0.0, 0.841344746068543, -0.158655253931457]], rtol=1e-14, atol=1e-15, what="gelu"
    )
    dz = activations.activation_backward("gelu", np.ones_like(z), z, h)
    # h'(-1) = Phi(-1) - phi(-1) = 1 - Phi(1) - phi(1) = 1 - 1.083315470587686
    assert_close(
        dz, [[0.5, 1.083315470587686, 1 - 1.083315470587686]], rtol=1e-14, atol=1e-15, what="gelu'"
    )


def test_silu_elu_softplus_by_hand():
    # SiLU(z) = z sigmoid(z): sigmoid(1) = 0.731058578630005, so h(1) = 0.731058578630005,
    # h(-1) = -sigmoid(-1) = -0.268941421369995; h'(1) = s (1 + 1 (1 - s)) = 0.927670511871487
    # and h'(-1) = 1 - h'(1) (SiLU's derivative is symmetric about (0, 1/2))
    z = np.array([[0.0, 1.0, -1.0]])
    assert_close(
        activations.activation_forward("silu", z),
        [[0.0, 0.731058578630005, -0.268941421369995]],
        rtol=1e-14,
        atol=1e-15,
        what="silu",
    )
    assert_close(
        activations.activation_backward("silu", np.ones_like(z), z, z),
        [[0.5, 0.927670511871487, 1 - 0.927670511871487]],
        rtol=1e-14,
        atol=1e-15,
        what="silu'",
    )
    # ELU(alpha = 2): h(-1) = 2 (e^-1 - 1) = -1.264241117657115, h(0) = 0, h(3) = 3;
    # h' = [2 e^-1, 2 (at 0, as torch), 1] = [0.735758882342885, 2, 1]
    z = np.array([[-1.0, 0.0, 3.0]])
    h = activations.activation_forward("elu", z, 2.0)
    assert_close(h, [[-1.264241117657115, 0.0, 3.0]], rtol=1e-14, atol=1e-15, what="elu")
    assert_close(
        activations.activation_backward("elu", np.ones_like(z), z, h, 2.0),
        [[0.735758882342885, 2.0, 1.0]],
        rtol=1e-14,
        atol=1e-15,
        what="elu'",
    )
    # Softplus: log 2 = 0.693147180559945 at 0, log(1 + e) = 1.313261687518223 at 1, and z
    # itself above 20 (torch's threshold): h(21) = 21 exactly, h'(21) = 1, h'(0) = 1/2
    z = np.array([[0.0, 1.0, 21.0]])
    h = activations.activation_forward("softplus", z)
    assert_close(
        h, [[0.693147180559945, 1.313261687518223, 21.0]], rtol=1e-14, atol=1e-15, what="softplus"
    )
    assert h[0, 2] == 21.0
    assert_close(
        activations.activation_backward("softplus", np.ones_like(z), z, h),
        [[0.5, 0.731058578630005, 1.0]],
        rtol=1e-14,
        atol=1e-15,
        what="softplus'",
    )


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="known activations: identity, step, sign.*gelu"):
        activations.activation_forward("swish", np.zeros((1, 1)))


def test_sigmoid_is_stable_for_huge_inputs():
    z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        h = activations.sigmoid(z)
    expected = 1 / (1 + np.exp(-np.clip(z, -700, 700)))
    assert_close(h, expected, rtol=1e-15, atol=1e-300, what="sigmoid")


@pytest.mark.parametrize("name", ["step", "sign"])
def test_step_and_sign_have_no_backward(name):
    z = np.array([[-1.0, 0.0, 2.0]])
    h = activations.activation_forward(name, z)
    expected = [[0, 1, 1]] if name == "step" else [[-1, 1, 1]]
    np.testing.assert_array_equal(h, expected)
    with pytest.raises(ValueError, match="derivative"):
        activations.activation_backward(name, np.ones_like(z), z, h)


# ---- layer normalisation -------------------------------------------------------------------
@pytest.mark.parametrize("B,F", [(1, 1), (1, 4), (5, 3), (6, 8)])
def test_layernorm_backward(B, F, rng):
    x = rng.normal(1.0, 2.0, size=(B, F))
    gamma, beta = rng.normal(size=F), rng.normal(size=F)
    G = rng.normal(size=(B, F))
    y, cache = layers.layernorm_forward(x, gamma, beta, 1e-5)
    dx, dgamma, dbeta = layers.layernorm_backward(G, cache, gamma)
    L = weighted_sum(G, lambda: layers.layernorm_forward(x, gamma, beta, 1e-5)[0])
    for what, got, wrt in (("dx", dx, x), ("dgamma", dgamma, gamma), ("dbeta", dbeta, beta)):
        num = numerical_gradient(L, wrt)
        print(
            f"layernorm {B}x{F} {what}: max |analytic - finite differences| "
            f"{np.max(np.abs(got - num)):.3e}"
        )
        assert_close(got, num, **FD, what=f"layernorm {what}")


def test_layernorm_by_hand():
    # one row x = [1, 2, 3, 6]: mean 3, centred [-2, -1, 0, 3], biased variance
    # (4 + 1 + 0 + 9) / 4 = 3.5; with eps = 0.5, inv_std = 1/sqrt(4) = 1/2, xhat =
    # [-1, -0.5, 0, 1.5]; gamma = 2, beta = 1: y = [-1, 0, 1, 4]
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    y, (xhat, inv_std) = layers.layernorm_forward(x, np.full(4, 2.0), np.ones(4), 0.5)
    np.testing.assert_array_equal(xhat, [[-1.0, -0.5, 0.0, 1.5]])
    np.testing.assert_array_equal(inv_std, [0.5])
    np.testing.assert_array_equal(y, [[-1.0, 0.0, 1.0, 4.0]])


# ---- fused output/loss pairs ---------------------------------------------------------------
def loss_targets(kind, B, K, rng):
    if kind == "labels":  # softmax with integer labels, as the API one-hot encodes them
        return np.eye(K)[rng.integers(0, K, B)]
    if kind == "probabilities":
        return rng.dirichlet(np.ones(K), size=B)
    if kind == "multilabel":
        return rng.integers(0, 2, size=(B, K)).astype(np.float64)
    if kind == "soft":
        return rng.uniform(0, 1, size=(B, K))
    if kind == "pm1":  # hinge labels -1/1
        return rng.choice([-1.0, 1.0], size=(B, K))
    if kind == "01":  # hinge labels 0/1, read as -1/1
        return rng.integers(0, 2, size=(B, K)).astype(np.float64)
    return rng.normal(size=(B, K))


LOSS_CASES = [
    ("softmax_cross_entropy", "labels"),
    ("softmax_cross_entropy", "probabilities"),
    ("binary_cross_entropy", "multilabel"),
    ("binary_cross_entropy", "soft"),
    ("mse", "real"),
    ("hinge", "pm1"),
    ("hinge", "01"),
    ("squared_hinge", "pm1"),
    ("squared_hinge", "01"),
]


@pytest.mark.parametrize("name,kind", LOSS_CASES)
@pytest.mark.parametrize("B,K", [(1, 2), (5, 3), (8, 1)])
def test_loss_backward(name, kind, B, K, rng):
    if name == "softmax_cross_entropy" and K < 2:
        pytest.skip("softmax needs two classes")
    z = rng.normal(0, 3, size=(B, K))
    y = loss_targets(kind, B, K, rng)
    value, h = losses.loss_forward(name, z, y)
    dz = losses.loss_backward(name, h, y)
    num = numerical_gradient(lambda: losses.loss_forward(name, z, y)[0], z)
    assert_close(dz, num, **FD, what=f"{name} dz")
    assert isinstance(value, float)


@pytest.mark.parametrize("name,kind", LOSS_CASES)
def test_loss_values_match_textbook_formulas(name, kind, rng):
    B, K = 6, 3
    z = rng.normal(0, 2, size=(B, K))
    y = loss_targets(kind, B, K, rng)
    value, h = losses.loss_forward(name, z, y)
    if name == "softmax_cross_entropy":
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        expected_h, expected = p, -np.sum(y * np.log(p)) / B
    elif name == "binary_cross_entropy":
        p = 1 / (1 + np.exp(-z))
        expected_h, expected = p, -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)) / B
    elif name in ("hinge", "squared_hinge"):  # Keras: mean over outputs of max(0, 1 - t z)
        t = 2 * y - 1 if kind == "01" else y
        margin = np.maximum(0, 1 - t * z) ** (2 if name == "squared_hinge" else 1)
        expected_h, expected = z, margin.mean(axis=1).mean()
    else:
        expected_h, expected = z, 0.5 * np.sum((z - y) ** 2) / B
    assert_close(h, expected_h, rtol=1e-12, atol=1e-15, what="output activation")
    assert_close(value, expected, rtol=1e-12, atol=1e-15, what="loss")
    assert_close(
        losses.output_activation(name, z),
        expected_h,
        rtol=1e-12,
        atol=1e-15,
        what="output_activation",
    )


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "binary_cross_entropy"])
def test_losses_are_stable_for_huge_logits(name):
    # the right class/label at +-800 costs ~0, the wrong one costs ~800 per sample
    z = np.array([[800.0, -800.0], [-800.0, 800.0]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, h = losses.loss_forward(name, z, y)
    expected = 1600 / 2 if name == "softmax_cross_entropy" else (800 + 800) / 2
    assert abs(value - expected) < 1e-9, f"loss {value} vs {expected}"
    assert np.isfinite(h).all() and (h >= 0).all() and (h <= 1).all()


def test_hinge_by_hand():
    # two samples, two outputs, labels -1/1: margins 1 - t z =
    #   [1 - 1 * 2, 1 - (-1)(0.5)] = [-1, 1.5] -> max(0, .) = [0, 1.5], mean 0.75
    #   [1 - (-1)(-0.25), 1 - 1 * 0.5] = [0.75, 0.5] -> mean 0.625
    # hinge = (0.75 + 0.625) / 2 = 0.6875; squared: ((0 + 2.25) / 2 + (0.5625 + 0.25) / 2) / 2
    # = (1.125 + 0.40625) / 2 = 0.765625. dz = -t [margin > 0] / (B K) = -t [..] / 4
    z = np.array([[2.0, 0.5], [-0.25, 0.5]])
    y = np.array([[1.0, -1.0], [-1.0, 1.0]])
    for labels in (y, (y + 1) / 2):  # the same with 0/1 labels
        value, h = losses.loss_forward("hinge", z, labels)
        assert value == 0.6875
        np.testing.assert_array_equal(
            losses.loss_backward("hinge", h, labels), [[0.0, 0.25], [0.25, -0.25]]
        )
        assert losses.loss_forward("squared_hinge", z, labels)[0] == 0.765625
        # squared: -2 t margin / 4 = [[0, 2 * 1.5 / 4], [2 * 0.75 / 4, -2 * 0.5 / 4]]
        np.testing.assert_array_equal(
            losses.loss_backward("squared_hinge", h, labels), [[0.0, 0.75], [0.375, -0.25]]
        )
    # at the kink t z = 1 the derivative is 0 (the margin is not > 0)
    one = np.ones((1, 1))
    assert losses.loss_backward("hinge", one, one)[0, 0] == 0.0


def test_hinge_matches_keras_formula_in_torch(rng):
    # Keras: hinge = mean(max(1 - t z, 0), axis=-1); torch's hinge_embedding_loss is another
    # function, so the torch side is the formula itself, differentiated by autograd
    torch = pytest.importorskip("torch")
    z, y = rng.normal(0, 2, size=(9, 3)), rng.choice([-1.0, 1.0], size=(9, 3))
    for name, power in (("hinge", 1), ("squared_hinge", 2)):
        zt = torch.from_numpy(z.copy()).requires_grad_(True)
        value_t = (torch.clamp(1 - torch.from_numpy(y) * zt, min=0) ** power).mean()
        value_t.backward()
        value, h = losses.loss_forward(name, z, y)
        dz = losses.loss_backward(name, h, y)
        print(
            f"{name}: |twin - torch| loss {abs(value - value_t.item()):.3e}, dz "
            f"{np.max(np.abs(dz - zt.grad.numpy())):.3e}"
        )
        assert abs(value - value_t.item()) <= 1e-15 * abs(value)
        assert_close(dz, zt.grad.numpy(), rtol=1e-15, atol=1e-17, what=f"{name} dz")


# ---- batch normalisation -------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("B,F", [(1, 3), (2, 1), (5, 4), (9, 2)])
def test_batchnorm_backward(training, B, F, rng):
    if training and B < 2:
        pytest.skip("training mode needs two samples")
    x = rng.normal(1, 2, size=(B, F))
    gamma, beta = rng.uniform(0.5, 2, F), rng.normal(size=F)
    rmean, rvar = rng.normal(size=F), rng.uniform(0.5, 2, F)
    G = rng.normal(size=(B, F))

    def forward():
        return layers.batchnorm_forward(
            x, gamma, beta, rmean, rvar, training, 0.1, 1e-5, update_running=False
        )[0]

    _, cache, _, _ = layers.batchnorm_forward(
        x, gamma, beta, rmean, rvar, training, 0.1, 1e-5, update_running=False
    )
    dx, dgamma, dbeta = layers.batchnorm_backward(G, cache, gamma, training)
    L = weighted_sum(G, forward)
    assert_close(dx, numerical_gradient(L, x), **FD, what="dx")
    assert_close(dgamma, numerical_gradient(L, gamma), **FD, what="dgamma")
    assert_close(dbeta, numerical_gradient(L, beta), **FD, what="dbeta")


def test_batchnorm_forward_without_update_keeps_running_stats(rng):
    x = rng.normal(size=(4, 3))
    rm, rv = rng.normal(size=3), rng.uniform(1, 2, 3)
    _, _, rm2, rv2 = layers.batchnorm_forward(
        x, np.ones(3), np.zeros(3), rm, rv, True, 0.1, 1e-5, update_running=False
    )
    np.testing.assert_array_equal(rm2, rm)
    np.testing.assert_array_equal(rv2, rv)


# ---- dropout -------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 0.3, 0.8])
@pytest.mark.parametrize("B,F", [(1, 5), (6, 7)])
def test_dropout_backward(p, B, F, rng):
    x = rng.normal(size=(B, F))
    G = rng.normal(size=(B, F))
    seed, step, layer = 1234, 7, 2  # a fixed mask: the forward is linear in x
    _, mask = layers.dropout_forward(x, p, seed, step, layer, True)
    dx = layers.dropout_backward(G, mask)
    L = weighted_sum(G, lambda: layers.dropout_forward(x, p, seed, step, layer, True)[0])
    assert_close(dx, numerical_gradient(L, x), **FD, what="dx")
    if p == 0:
        assert mask is None  # p = 0 is the identity


# ---- the whole reference network -----------------------------------------------------------
NETWORKS = {
    "tanh-softmax": ([("dense", 3, 4), ("tanh", 4, 4), ("dense", 4, 3)], "softmax_cross_entropy"),
    "sigmoid-relu-bce": (
        [("dense", 4, 5), ("sigmoid", 5, 5), ("dense", 5, 3), ("relu", 3, 3), ("dense", 3, 2)],
        "binary_cross_entropy",
    ),
    "identity-mse": ([("dense", 2, 3), ("identity", 3, 3), ("dense", 3, 1)], "mse"),
    "leading-activation": ([("tanh", 3, 3), ("dense", 3, 2)], "mse"),
    "bn-dropout": (
        [
            ("dense", 3, 5),
            ("batchnorm", 5, 5, 0.1, 1e-5),
            ("relu", 5, 5),
            ("dropout", 5, 5, 0.4),
            ("dense", 5, 4),
            ("tanh", 4, 4),
            ("dropout", 4, 4, 0.2),
            ("dense", 4, 3),
        ],
        "softmax_cross_entropy",
    ),
    "bn-first": (
        [("batchnorm", 3, 3, 0.2, 1e-3), ("dense", 3, 2), ("sigmoid", 2, 2), ("dense", 2, 2)],
        "binary_cross_entropy",
    ),
    "leaky-gelu": (
        [
            ("dense", 3, 5),
            ("leaky_relu", 5, 5, 0.2),
            ("dense", 5, 4),
            ("gelu", 4, 4),
            ("dense", 4, 2),
        ],
        "mse",
    ),
    "gelu-bn-dropout": (
        [
            ("dense", 4, 6),
            ("batchnorm", 6, 6, 0.1, 1e-5),
            ("gelu", 6, 6),
            ("dropout", 6, 6, 0.3),
            ("dense", 6, 3),
            ("leaky_relu", 3, 3, -0.5),
            ("dense", 3, 3),
        ],
        "softmax_cross_entropy",
    ),
}


def reference_net(name, rng):
    specs, loss = NETWORKS[name]
    net = Network(specs, loss, np.float64, seed=99)
    net.set_params(rng.normal(0, 0.7, net.params.size))
    # non-trivial running statistics for evaluation mode
    net.set_state(
        np.concatenate(
            [
                np.concatenate([rng.normal(size=s[1]), rng.uniform(0.5, 2, s[1])])
                for s in specs
                if s[0] == "batchnorm"
            ]
            or [np.zeros(0)]
        )
    )
    return net, specs, loss


def net_targets(loss, B, K, rng):
    if loss == "softmax_cross_entropy":
        return rng.dirichlet(np.ones(K), size=B)
    return loss_targets("soft" if loss == "binary_cross_entropy" else "real", B, K, rng)


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("training,step", [(False, 0), (True, 0), (True, 5)])
@pytest.mark.parametrize("B", [1, 6])
def test_network_gradients(name, training, step, B, rng):
    net, specs, loss = reference_net(name, rng)
    has_bn = any(s[0] == "batchnorm" for s in specs)
    if training and has_bn and B < 2:
        pytest.skip("BatchNorm training mode needs two samples")
    n_in, n_out = specs[0][1], specs[-1][2]
    x = rng.normal(size=(B, n_in))
    y = net_targets(loss, B, n_out, rng)
    state = net.get_state()

    value, grad = net.gradients(x, y, training, step)
    assert value == net.loss(x, y, training, step)
    num = numerical_gradient(lambda: net.loss(x, y, training, step), net.params)
    assert_close(grad, num, **FD, what=f"{name} gradient")
    np.testing.assert_array_equal(net.get_state(), state)  # gradients() updates nothing


def test_network_dropout_step_changes_the_loss(rng):
    net, specs, loss = reference_net("bn-dropout", rng)
    x, y = rng.normal(size=(8, 3)), net_targets(loss, 8, 3, rng)
    values = {net.loss(x, y, True, step) for step in range(4)}
    assert len(values) == 4, "dropout masks must depend on the step"
    assert net.loss(x, y, True, 2) == net.loss(x, y, True, 2)
