"""JAX with jax.lax.scan over the minibatches of an epoch inside one jax.jit: one compiled
call per epoch (shuffle, gather, every step, the epoch's mean loss). Compile time is
measured apart."""

from . import jax_model

NAME = "jax.scan"


def unavailable():
    return jax_model.unavailable()


def trainer(cfg, X, y):
    import jax
    import jax.numpy as jnp
    from common import SEED, perf

    n = X.shape[0]
    n_batches = n // cfg.batch  # the configs make n a multiple of the batch

    def epoch(params, state, X, y, key):
        perm = jax.random.permutation(key, n).reshape(n_batches, cfg.batch)
        keys = jax.random.split(key, n_batches)

        def body(carry, xs):
            idx, k = xs
            p, s, loss = jax_model.sgd_step(carry[0], carry[1], X, y, idx, k)
            return (p, s), loss

        (params, state), losses = jax.lax.scan(body, (params, state), (perm, keys))
        return params, state, losses.mean()

    params, state = jax_model.init(cfg)
    Xd, yd = jnp.asarray(X), jnp.asarray(y.astype("int32"))
    key = jax.random.PRNGKey(SEED)
    t0 = perf()
    compiled = jax.jit(epoch, donate_argnums=(0, 1)).lower(params, state, Xd, yd, key).compile()
    compile_seconds = perf() - t0
    box = {"params": params, "state": state, "epoch": 0}

    def run(k):
        p, s = box["params"], box["state"]
        for _ in range(k):
            p, s, _ = compiled(p, s, Xd, yd, jax.random.fold_in(key, box["epoch"]))
            box["epoch"] += 1
        jax.block_until_ready(p)
        box["params"], box["state"] = p, s
        return k

    run.compile_seconds = compile_seconds
    run.note = "jit(epoch) with lax.scan over batches"
    return run
