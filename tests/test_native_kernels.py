"""The C++ functions one by one against their NumPy twins (same names, same arguments), on
fresh random inputs of several shapes: batch size 1, non-square layers, both dtypes.
The kernels are bound for tests only, in the submodule mlpcore._core.testing.
Whole networks are compared in test_backends_agree.py."""

import numpy as np
import pytest

from mlpcore.reference import activations, layers, losses
from mlpcore.reference import rng as ref_rng

from conftest import assert_close

core = pytest.importorskip(
    "mlpcore._core", reason="the C++ engine mlpcore._core is not built"
).testing

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 3, 8), (16, 33, 10), (64, 128, 17)]  # (B, I, O)


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.normal(0, scale, shape)).astype(dtype)


@pytest.mark.parametrize("B,I,O", SHAPES)
def test_gemm_matches_naive_and_numpy(B, I, O, dtype, tol, rng):
    a, b = _rand(rng, (B, I), dtype), _rand(rng, (I, O), dtype)
    for ta in (False, True):
        for tb in (False, True):
            A = np.ascontiguousarray(a.T) if ta else a
            Bm = np.ascontiguousarray(b.T) if tb else b
            got = core.gemm(A, Bm, trans_a=ta, trans_b=tb)
            assert got.dtype == np.dtype(dtype)
            assert_close(
                got,
                core.gemm_naive(A, Bm, trans_a=ta, trans_b=tb),
                **tol,
                what=f"gemm ta={ta} tb={tb} vs naive",
            )
            assert_close(got, a @ b, **tol, what=f"gemm ta={ta} tb={tb} vs numpy")


# (M, N, K) of row-major (NoTrans, Trans) products inside the copy-B^T rule of blas.cpp on the
# CPUs where it applies: the dense layer's delta products of small nets, and shapes that are
# not multiples of the transpose's blocks (8x8 float, 4x4 double) in either direction
COPY_SHAPES = [
    (16, 33, 10),
    (32, 64, 64),
    (32, 64, 2),
    (64, 128, 10),
    (17, 9, 31),
    (40, 7, 5),
    (16, 8, 8),
    (128, 64, 64),
    (24, 255, 3),
    (32, 128, 128),
    (33, 150, 100),
    (48, 37, 22),
]
# the bundled OpenBLAS's kernel families with small-matrix kernels, where the rule copies
SMALL_KERNEL_CORES = {"SkylakeX", "Cooperlake", "SapphireRapids"}


@pytest.mark.parametrize(
    "rows,cols,lds,ldd",
    [
        (1, 1, 1, 1),
        (8, 8, 8, 8),
        (13, 21, 24, 15),
        (64, 10, 10, 64),
        (37, 22, 30, 40),
        (4, 9, 9, 7),
    ],
)
def test_transpose_with_leading_dimensions(rows, cols, lds, ldd, dtype, rng):
    src = _rand(rng, (rows, lds), dtype)
    dst = core.transpose(src, cols, ldd)
    assert dst.shape == (cols, ldd) and dst.dtype == np.dtype(dtype)
    # a copy: bitwise, and nothing written past the first `rows` columns of dst
    np.testing.assert_array_equal(dst[:, :rows], src[:, :cols].T)
    assert np.isnan(dst[:, rows:]).all()


def test_transpose_rejects_bad_dimensions():
    with pytest.raises(ValueError, match="cols must lie in"):
        core.transpose(np.ones((3, 4)), 5, 3)
    with pytest.raises(ValueError, match="ldd must be >= 3"):
        core.transpose(np.ones((3, 4)), 4, 2)


@pytest.mark.parametrize("M,N,K", COPY_SHAPES)
def test_gemm_no_trans_trans_with_copied_operand(M, N, K, dtype, tol, rng):
    a = _rand(rng, (M, K), dtype)
    b = _rand(rng, (N, K), dtype)  # op(b) = b^T, (K, N)
    got = core.gemm(a, b, trans_b=True)
    what = f"gemm (No, Trans) {M}x{N}x{K} (copies B^T: "
    what += f"{core.gemm_copies_transposed_b(M, N, K, dtype=np.dtype(dtype).name)})"
    assert_close(got, core.gemm_naive(a, b, trans_b=True), **tol, what=what + " vs naive")
    assert_close(got, a.astype(np.float64) @ b.astype(np.float64).T, **tol, what=what)


def test_copy_rule_follows_the_cpu_and_the_shapes():
    rule = core.gemm_copies_transposed_b
    if core.blas_core_name() in SMALL_KERNEL_CORES:  # these copy
        assert rule(32, 64, 64) and rule(32, 64, 2) and rule(64, 128, 10)  # small nets' dx
        assert rule(32, 512, 32)  # the panels of the split product below
        assert rule(16, 64, 128) and rule(16, 16, 64)  # 16-31 rows: K <= 4 N and <= 128
        assert rule(32, 64, 64, dtype="float64") and rule(16, 64, 16, dtype="float64")
    else:  # other kernels: the copy did not pay (bench/README.md, finding 15)
        assert not any(rule(*s) for s in COPY_SHAPES)
    # never: other flags, fewer than 16 rows, past 1e6 multiply-adds, 16-31 rows with depth
    # over 4x the columns or over 128 (float32) / 16 (float64), or B^T over 32 / 64 KiB
    for ta, tb in ((False, False), (True, False), (True, True)):
        assert not rule(32, 64, 64, trans_a=ta, trans_b=tb)
    assert not rule(8, 64, 64)
    assert not rule(256, 64, 64)
    assert not rule(16, 16, 100)
    assert not rule(16, 256, 200)
    assert not rule(16, 128, 128)
    assert not rule(16, 64, 64, dtype="float64")
    assert not rule(32, 128, 128, dtype="float64")
    with pytest.raises(ValueError, match="dtype must be"):
        rule(32, 64, 64, dtype="int8")


def test_split_product_of_copied_panels_is_thread_count_independent(rng):
    # 32x2048x32 is cut into 4 column panels of 32x512x32, each one copied where the rule
    # copies: the same bits at 1 and 2 threads, close to float64
    import mlpcore as mc

    a, b = _rand(rng, (32, 32), np.float32), _rand(rng, (2048, 32), np.float32)
    before = mc.get_num_threads()
    try:
        mc.set_num_threads(1)
        one = core.gemm(a, b, trans_b=True)
        mc.set_num_threads(2)
        two = core.gemm(a, b, trans_b=True)
    finally:
        mc.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    exact = a.astype(np.float64) @ b.astype(np.float64).T
    assert_close(one, exact, rtol=1e-4, atol=1e-5, what="32x2048x32 in panels")


def test_gemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inner dimensions"):
        core.gemm(np.ones((2, 3)), np.ones((4, 2)))


@pytest.mark.parametrize("B,I,O", SHAPES)
def test_dense_forward_backward(B, I, O, dtype, tol, rng):
    x, w, b = _rand(rng, (B, I), dtype), _rand(rng, (I, O), dtype), _rand(rng, O, dtype)
    dz = _rand(rng, (B, O), dtype)
    assert_close(core.dense_forward(x, w, b), layers.dense_forward(x, w, b), **tol, what="z")
    for name, got, ref in zip(
        ("dx", "dW", "db"), core.dense_backward(dz, x, w), layers.dense_backward(dz, x, w)
    ):
        assert got.dtype == np.dtype(dtype)
        assert_close(got, ref, **tol, what=name)


# (name, param): param is leaky_relu's negative slope, 0 for the others
ACTIVATION_CASES = [
    (name, 0.0) for name in activations.NAMES if name not in ("leaky_relu", "elu")
] + [
    ("leaky_relu", 0.01),
    ("leaky_relu", 1.7),
    ("leaky_relu", -0.3),
    ("elu", 1.0),
    ("elu", 0.4),
    ("elu", -1.5),
]


def test_activation_cases_cover_every_activation():
    assert {name for name, _ in ACTIVATION_CASES} == set(activations.NAMES)


@pytest.mark.parametrize("name,param", ACTIVATION_CASES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (32, 17)])
def test_activation_forward_backward(name, param, shape, dtype, tol, rng):
    z = _rand(rng, shape, dtype, scale=3.0)
    z[0, 0] = 0  # the convention at zero: step(0) = 1, sign(0) = 1, relu'(0) = 0, leaky' = slope
    h = core.activation_forward(name, z, param)
    assert_close(h, activations.activation_forward(name, z, param), **tol, what=f"{name} forward")
    dh = _rand(rng, shape, dtype)
    if name in activations.DIFFERENTIABLE:
        assert_close(
            core.activation_backward(name, dh, z, h, param),
            activations.activation_backward(name, dh, z, h, param),
            **tol,
            what=f"{name} backward",
        )
    else:
        with pytest.raises(ValueError, match="derivative"):
            core.activation_backward(name, dh, z, h, param)


@pytest.mark.parametrize(
    "name,param",
    [
        ("gelu", 0.0),
        ("leaky_relu", 0.01),
        ("leaky_relu", -0.3),
        ("silu", 0.0),
        ("elu", 1.0),
        ("elu", -0.6),
        ("softplus", 0.0),
    ],
)
def test_new_activations_float64_to_1e_12(name, param, rng):
    # GELU, LeakyReLU, SiLU, ELU and Softplus against the twin at the float64 cross-check level (about 1e-12
    # relative), over a wide range of z including the far tails, where GELU's 1 + erf cancels
    z = np.concatenate([rng.normal(0, 3, 2000), np.linspace(-40, 40, 801)]).reshape(-1, 1)
    dh = rng.normal(size=z.shape)
    h = core.activation_forward(name, z, param)
    for what, got, ref in (
        ("forward", h, activations.activation_forward(name, z, param)),
        (
            "backward",
            core.activation_backward(name, dh, z, h, param),
            activations.activation_backward(name, dh, z, h, param),
        ),
    ):
        print(f"{name}({param}) {what}: max |C++ - twin| {np.max(np.abs(got - ref)):.3e}")
        assert_close(got, ref, rtol=1e-12, atol=1e-15, what=f"{name} {what}")


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="known activations: identity, step, sign"):
        core.activation_forward("swish", np.zeros((1, 1)))


def _targets(name, B, K, dtype, rng):
    if name == "softmax_cross_entropy":
        y = rng.random((B, K))
        return (y / y.sum(axis=1, keepdims=True)).astype(dtype)  # probability rows
    if name == "binary_cross_entropy":
        return rng.random((B, K)).astype(dtype)
    if name in ("hinge", "squared_hinge"):  # labels -1/1 and 0/1 (0 read as -1) mixed by row
        y = rng.choice([-1.0, 1.0], (B, K))
        y[::2] = (y[::2] + 1) / 2
        return y.astype(dtype)
    return _rand(rng, (B, K), dtype)


@pytest.mark.parametrize("name", losses.NAMES)
@pytest.mark.parametrize("B,K", [(1, 2), (4, 1), (7, 3), (50, 10)])
def test_loss_forward_backward(name, B, K, dtype, tol, rng):
    if name == "softmax_cross_entropy" and K < 2:
        pytest.skip("softmax needs two outputs")
    z, y = _rand(rng, (B, K), dtype, scale=4.0), _targets(name, B, K, dtype, rng)
    value, h = core.loss_forward(name, z, y)
    ref_value, ref_h = losses.loss_forward(name, z, y)
    assert_close(value, ref_value, **tol, what=f"{name} loss")
    assert_close(h, ref_h, **tol, what=f"{name} h")
    assert_close(core.output_activation(name, z), ref_h, **tol, what=f"{name} output")
    assert_close(
        core.loss_backward(name, h, y), losses.loss_backward(name, ref_h, y), **tol, what="dz"
    )


@pytest.mark.parametrize("K", [2, 10, 37])
def test_float32_softmax_matches_the_twin_to_a_few_ulp(K, rng):
    # The float32 softmax runs its own vectorised exp (cpp/include/mlpcore/vexp.hpp, within
    # 1 ulp): held to the twin's float32 softmax far tighter than the cross-check tolerance
    # (rtol 1e-4), so a slightly wrong exp cannot hide in it. Logits span the whole range where
    # exp(z - max) is a normal float (z - max down to -87); below that C++ gives 0, NumPy a
    # subnormal (< 1.2e-38, inside atol).
    z = np.concatenate([rng.normal(0, 3, (300, K)), rng.uniform(-87, 0, (300, K))])
    z = z.astype(np.float32)
    z[300:, 0] = 0  # the max of each wide row
    got = core.output_activation("softmax_cross_entropy", z)
    ref = losses.output_activation("softmax_cross_entropy", z)
    assert got.dtype == ref.dtype == np.float32
    rel = np.abs(got.astype(np.float64) - ref) / np.maximum(ref, 1e-30)
    print(f"K={K}: max relative |C++ - twin| {np.max(rel[ref > 1e-37]):.2e}")
    assert_close(got, ref, rtol=4e-6, atol=1.2e-38, what=f"float32 softmax K={K}")
    value, h = core.loss_forward(
        "softmax_cross_entropy", z, np.eye(K, dtype=np.float32)[rng.integers(0, K, len(z))]
    )
    assert_close(h, ref, rtol=4e-6, atol=1.2e-38, what=f"float32 softmax of loss_forward K={K}")


@pytest.mark.parametrize("name", [n for n in losses.NAMES if n != "poisson"])  # exp(1000) = inf
def test_losses_are_stable_for_huge_logits(name, dtype):
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [0.0, 1000.0]], dtype)
    y = np.array([[1, 0], [1, 0], [0, 1]], dtype)
    value, h = core.loss_forward(name, z, y)
    ref_value, ref_h = losses.loss_forward(name, z, y)
    assert np.isfinite(value) and np.isfinite(h).all(), f"{name}: loss {value}, h {h}"
    # per row: softmax 0, 2000, 0; BCE (0 + 0), (1000 + 1000), (log 2 + 0); mse by hand
    expected = {
        "softmax_cross_entropy": 2000 / 3,
        "binary_cross_entropy": (2000 + np.log(2)) / 3,
        "mse": (0.5 * (999**2 + 1000**2 + 1001**2 + 1000**2) + 0.5 * 999**2) / 3,
        # labels 0/1 read as -1/1: margins 1 - t z per row (0, 0), (1001, 1001), (1, 0)
        "hinge": (0 + 1001 + 0.5) / 3,
        "squared_hinge": (0 + 1001**2 + 0.5) / 3,
    }
    rel = abs(value - expected[name]) / expected[name]
    assert rel < 1e-6, f"{name}: loss {value}, expected {expected[name]} (rel diff {rel:.2e})"
    assert abs(value - ref_value) / expected[name] < 1e-6


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("B,F", [(2, 1), (5, 3), (64, 40)])
def test_batchnorm_forward_backward(training, B, F, dtype, tol, rng):
    x = _rand(rng, (B, F), dtype, scale=2.0) + dtype_type(dtype)(3)
    gamma, beta = _rand(rng, F, dtype), _rand(rng, F, dtype)
    rm, rv = _rand(rng, F, dtype), (rng.random(F) + 0.5).astype(dtype)
    args = (x, gamma, beta, rm, rv, training, 0.1, 1e-5, True)
    got, ref = core.batchnorm_forward(*args), layers.batchnorm_forward(*args)
    assert_close(got[0], ref[0], **tol, what="y")
    assert_close(got[1][0], ref[1][0], **tol, what="xhat")
    assert_close(got[1][1], ref[1][1], **tol, what="inv_std")
    assert_close(got[2], ref[2], **tol, what="running_mean")
    assert_close(got[3], ref[3], **tol, what="running_var")
    dy = _rand(rng, (B, F), dtype)
    for name, g, r in zip(
        ("dx", "dgamma", "dbeta"),
        core.batchnorm_backward(dy, got[1], gamma, training),
        layers.batchnorm_backward(dy, ref[1], gamma, training),
    ):
        assert_close(g, r, **tol, what=name)


@pytest.mark.parametrize("B,F", [(1, 1), (1, 6), (5, 3), (64, 40)])
def test_layernorm_forward_backward(B, F, dtype, tol, rng):
    x = _rand(rng, (B, F), dtype, scale=2.0) + dtype_type(dtype)(3)
    gamma, beta = _rand(rng, F, dtype), _rand(rng, F, dtype)
    got, ref = (
        core.layernorm_forward(x, gamma, beta, 1e-5),
        layers.layernorm_forward(x, gamma, beta, 1e-5),
    )
    dy = _rand(rng, (B, F), dtype)
    pairs = [
        ("y", got[0], ref[0]),
        ("xhat", got[1][0], ref[1][0]),
        ("inv_std", got[1][1], ref[1][1]),
    ]
    pairs += list(
        zip(
            ("dx", "dgamma", "dbeta"),
            core.layernorm_backward(dy, got[1], gamma),
            layers.layernorm_backward(dy, ref[1], gamma),
        )
    )
    for name, g, r in pairs:
        print(
            f"layernorm {dtype} {B}x{F} {name}: max |C++ - twin| "
            f"{np.max(np.abs(g.astype(np.float64) - r)):.3e}"
        )
        assert g.dtype == np.dtype(dtype)
        assert_close(g, r, **tol, what=name)


def dtype_type(dtype):
    return np.dtype(dtype).type


def test_batchnorm_one_sample_in_training_raises():
    with pytest.raises(ValueError, match="at least 2 samples"):
        core.batchnorm_forward(
            np.ones((1, 3)),
            np.ones(3),
            np.zeros(3),
            np.zeros(3),
            np.ones(3),
            True,
            0.1,
            1e-5,
            False,
        )


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (128, 64)])
def test_dropout_masks_identical(p, shape, dtype, rng):
    x = _rand(rng, shape, dtype)
    seed, step, layer = int(rng.integers(0, 2**63)), int(rng.integers(0, 10**6)), 3
    y, mask = core.dropout_forward(x, p, seed, step, layer, True)
    ref_y, ref_mask = layers.dropout_forward(x, p, seed, step, layer, True)
    if p == 0:
        assert mask is None and ref_mask is None
    else:
        assert np.array_equal(mask, ref_mask), (
            f"masks differ at {np.sum(mask != ref_mask)} elements"
        )
    assert np.array_equal(y, ref_y)
    dy = _rand(rng, shape, dtype)
    assert np.array_equal(core.dropout_backward(dy, mask), layers.dropout_backward(dy, ref_mask))
    y_eval, mask_eval = core.dropout_forward(x, p, seed, step, layer, False)
    assert mask_eval is None and np.array_equal(y_eval, x)


def test_rng_streams_identical(rng):
    for _ in range(5):
        seed, stream, a, b = (int(v) for v in rng.integers(0, 2**63, 4))
        k = core.rng.key(seed, stream, a, b)
        assert k == ref_rng.key(seed, stream, a, b)
        assert np.array_equal(core.rng.bits(k, 1000), ref_rng.bits(k, 1000))
        assert np.array_equal(core.rng.permutation(seed, a, 777), ref_rng.permutation(seed, a, 777))
    for p in (0.0, 0.1, 0.25, 0.5, 0.999):
        assert core.rng.keep_threshold(p) == int(ref_rng.keep_threshold(p))


def test_bits_are_uniform():
    # 2^16 draws in 16 bins of their top 4 bits: a chi-square test at a generous level
    bits = core.rng.bits(core.rng.key(0, 0, 0, 0), 1 << 16)
    counts = np.bincount((bits >> np.uint64(60)).astype(np.int64), minlength=16)
    expected = (1 << 16) / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 50, f"chi-square {chi2:.1f} with 15 degrees of freedom"
