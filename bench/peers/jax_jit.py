"""JAX with jax.jit on the training step: a Python loop over the minibatches of an epoch,
one compiled call per step (the permutation lives on the device, the batch is gathered by
index inside the step). Compile time is measured apart."""

from . import jax_model

NAME = "jax.jit"


def unavailable():
    return jax_model.unavailable()


def trainer(cfg, X, y):
    import jax
    import jax.numpy as jnp
    from common import SEED, perf

    def step(params, state, X, y, perm, start, key, count):
        idx = jax.lax.dynamic_slice_in_dim(perm, start, cfg.batch)
        return jax_model.sgd_step(params, state, X, y, idx, jax.random.fold_in(key, count))

    params, state = jax_model.init(cfg)
    Xd, yd = jnp.asarray(X), jnp.asarray(y.astype("int32"))
    n = X.shape[0]
    key = jax.random.PRNGKey(SEED)
    t0 = perf()
    compiled = (
        jax.jit(step, donate_argnums=(0, 1))
        .lower(params, state, Xd, yd, jnp.arange(n, dtype=jnp.int32), 0, key, 0)
        .compile()
    )
    compile_seconds = perf() - t0
    box = {"params": params, "state": state, "epoch": 0, "count": 0}

    def run(k):
        p, s = box["params"], box["state"]
        for _ in range(k):
            perm = jax.random.permutation(jax.random.fold_in(key, 10**6 + box["epoch"]), n)
            box["epoch"] += 1
            for start in range(0, n, cfg.batch):
                p, s, _ = compiled(p, s, Xd, yd, perm, start, key, box["count"])
                box["count"] += 1
        jax.block_until_ready(p)
        box["params"], box["state"] = p, s
        return k

    run.compile_seconds = compile_seconds
    run.note = "jit(step), Python loop over batches"
    return run
