"""The benchmark MLP in JAX, shared by jax_jit (jit on the step) and jax_scan (lax.scan over
the minibatches of an epoch): parameters, forward with batch norm and dropout, softmax
cross-entropy, one SGD step on a batch gathered by index inside the compiled code."""

from common import DROPOUT, LR, SEED


def unavailable():
    try:
        import jax  # noqa: F401
    except ImportError as exc:
        return f"JAX is not installed ({exc}); pip install jax"
    return None


def init(cfg):
    """(params, state): params is a list per Dense layer of {"W": (n_in, n_out), "b": (n_out,)}
    plus "gamma", "beta" (n_out,) when a BatchNorm follows; state holds the running
    "mean"/"var" (n_out,) per BatchNorm layer. He-uniform weights."""
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(SEED)
    params, state = [], []
    for i, (a, b) in enumerate(zip(cfg.widths[:-1], cfg.widths[1:])):
        bound = np.sqrt(6.0 / a)
        p = {
            "W": jnp.asarray(rng.uniform(-bound, bound, (a, b)).astype(np.float32)),
            "b": jnp.zeros(b, jnp.float32),
        }
        if cfg.blocks and i < len(cfg.widths) - 2:
            p["gamma"], p["beta"] = jnp.ones(b, jnp.float32), jnp.zeros(b, jnp.float32)
            state.append({"mean": jnp.zeros(b, jnp.float32), "var": jnp.ones(b, jnp.float32)})
        params.append(p)
    return params, state


def loss_fn(params, state, xb, yb, key):
    """Mean softmax cross-entropy of the batch xb (B, n_in), labels yb (B,), in training
    mode; returns (loss, new running statistics)."""
    import jax
    import jax.numpy as jnp

    h, new_state, s = xb, [], 0
    for i, p in enumerate(params):
        h = h @ p["W"] + p["b"]
        if i == len(params) - 1:
            break
        if "gamma" in p:
            mean, var = h.mean(axis=0), h.var(axis=0)  # biased variance normalises
            h = (h - mean) * jax.lax.rsqrt(var + 1e-5) * p["gamma"] + p["beta"]
            n = xb.shape[0]
            new_state.append(
                {  # PyTorch's running estimates: unbiased variance, momentum 0.1
                    "mean": 0.9 * state[s]["mean"] + 0.1 * jax.lax.stop_gradient(mean),
                    "var": 0.9 * state[s]["var"] + 0.1 * jax.lax.stop_gradient(var) * n / (n - 1),
                }
            )
            s += 1
        h = jax.nn.relu(h)
        if "gamma" in p:
            keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - DROPOUT, h.shape)
            h = jnp.where(keep, h / (1.0 - DROPOUT), 0.0)
    logp = jax.nn.log_softmax(h, axis=1)
    loss = -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
    return loss, new_state


def sgd_step(params, state, X, y, idx, key):
    """One SGD step on the batch X[idx], y[idx]; returns (params, state, loss)."""
    import jax

    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, state, X[idx], y[idx], key
    )
    params = jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)
    return params, state, loss
