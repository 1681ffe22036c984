"""Data-parallel training of one model on a dask.distributed cluster (docs/distributed.md).

The training data stays on the workers: the blocks of a dask array / partitions of a dask
DataFrame (X, y and the sample weights, aligned block by block) are checked and converted
once per fit by a task on the worker that holds them (`_prepare`), and the prepared
partitions stay there as futures. Per step (full batch, L-BFGS) or per epoch (minibatch) the
client sends the model's flat buffers to the workers (client.scatter), one task per
partition runs the C++ engine on it, and the client combines the small results in partition
order:

- full batch (Sequential.fit with batch_size >= n) and the estimators' L-BFGS: every task
  returns its partition's weighted loss and gradient at the current weights (the engine's
  `gradients`); their sum, in partition order, is the full-batch loss and gradient, and the
  client takes the step (clipping, decay and the optimizer of the NumPy twin, which agrees
  with the C++ engine's to rounding). The result equals the single-machine fit to rounding.
- minibatch (batch_size < n): local SGD with model averaging once per epoch. Every task runs
  one epoch of the engine's minibatch training on its partition from the broadcast weights,
  state and optimizer moments; the client averages the parameters, the batch-norm running
  statistics and the moments with the partitions' weight sums as weights. Dropout steps are
  numbered across the cluster: partition p draws the masks of steps step_ + (steps of the
  partitions before p) onwards, so no (seed, step, layer, element) key is used twice.

Nothing here imports dask at import time; the worker functions need only numpy and mlpcore.
"""

import dataclasses
import functools
import signal
import threading

import numpy as np

from . import _checks
from ._common import batch_bounds

ROUND_ATTEMPTS = 3  # runs of one round (a broadcast and its tasks) that may lose a worker
PROBE_ROWS = 32  # rows of the first partition kept on the client for the finiteness check


is_dask, any_dask, to_local = _checks.is_dask, _checks.any_dask, _checks.dask_to_local


def client():
    """The current dask.distributed Client, or an error saying how to get one."""
    try:
        from distributed import default_client
    except ImportError as exc:  # pragma: no cover - dask without distributed
        raise ImportError(
            "training on Dask collections needs dask.distributed: pip install "
            "'mlpcore[dask]' (in a clone: pip install '.[dask]')"
        ) from exc
    try:
        return default_client()
    except ValueError as exc:
        raise ValueError(
            "fit on Dask collections runs on a dask.distributed cluster: create a client "
            "first (from dask.distributed import Client; client = Client()), or compute X "
            "and y to NumPy arrays"
        ) from exc


def _block_unique(block):
    values = _values(block)
    return np.unique(values.astype(object) if values.dtype == object else values)


def unique_labels(c, y):
    """The sorted distinct labels of a Dask collection y: one unique() per block on the
    workers, their union here (no shuffle)."""
    import dask

    blocks = list(y.to_delayed()) if _is_frame(y) else list(np.ravel(y.to_delayed()))
    parts = c.gather(c.compute([dask.delayed(_block_unique)(b) for b in blocks]))
    parts = [p for p in parts if len(p)]
    return np.unique(np.concatenate(parts)) if parts else np.array([])


# ---- the partitions ---------------------------------------------------------------------------
def _is_frame(a):
    return hasattr(a, "npartitions") and not hasattr(a, "chunks")


def _as_array(a, name):
    """A dask array of a Dask collection (DataFrame/Series: with its partition lengths)."""
    if _is_frame(a):
        return a.to_dask_array(lengths=True)
    if not hasattr(a, "chunks"):
        raise ValueError(f"{name} must be a dask array or DataFrame, got {type(a).__name__}")
    return a


def _row_blocks(a):
    """The delayed row blocks of a dask array (all columns in each block)."""
    if a.ndim == 2 and a.numblocks[1] > 1:
        a = a.rechunk({1: -1})
    return list(a.to_delayed().ravel())


def _split_local(a, lengths):
    """A NumPy array (or None) cut into row blocks of the given lengths."""
    if a is None:
        return [None] * len(lengths)
    a = np.asarray(a)
    if a.shape[0] != sum(lengths):
        raise ValueError(f"y or sample_weight has {a.shape[0]} samples but X has {sum(lengths)}")
    cuts = np.cumsum(lengths)[:-1]
    return np.split(a, cuts)


def _aligned_blocks(X, y, w):
    """Delayed blocks [(X_b, y_b, w_b)] of the same rows. Dask collections of one partitioning
    (a DataFrame and its Series) pair partition by partition; otherwise y and w are rechunked
    to X's row blocks (NumPy y and w are cut to them)."""
    frames = [a for a in (X, y, w) if a is not None and is_dask(a)]
    if all(_is_frame(a) for a in frames) and len({a.npartitions for a in frames}) == 1:
        xs = list(X.to_delayed())
        ys, ws = y, w
        if any(a is not None and not is_dask(a) for a in (y, w)):
            lengths = [int(v) for v in X.map_partitions(len).compute()]
            ys = y.to_delayed() if is_dask(y) else _split_local(y, lengths)
            ws = _split_local(w, lengths) if w is None or not is_dask(w) else list(w.to_delayed())
        else:
            ys = list(y.to_delayed())
            ws = [None] * len(xs) if w is None else list(w.to_delayed())
        return list(zip(xs, ys, ws))
    Xa = _as_array(X, "X")
    if any(np.isnan(c) for c in Xa.chunks[0]):
        Xa = Xa.compute_chunk_sizes()
    lengths = [int(c) for c in Xa.chunks[0]]
    out = []
    for a, name in ((y, "y"), (w, "sample_weight")):
        if a is None or not is_dask(a):
            out.append(_split_local(a, lengths))
            continue
        a = _as_array(a, name)
        if any(np.isnan(c) for c in a.chunks[0]):
            a = a.compute_chunk_sizes()
        if a.shape[0] != Xa.shape[0]:
            raise ValueError(f"{name} has {a.shape[0]} samples but X has {Xa.shape[0]}")
        if tuple(a.chunks[0]) != tuple(Xa.chunks[0]):
            a = a.rechunk({0: Xa.chunks[0]})
        out.append(_row_blocks(a))
    return list(zip(_row_blocks(Xa), out[0], out[1]))


def _values(block):
    return block.to_numpy() if hasattr(block, "to_numpy") else np.asarray(block)


def model_targets(y, n, loss, n_outputs, dtype):
    """Sequential's targets of a block (the checks of fit)."""
    return _checks.check_targets(y, loss, n, n_outputs, dtype)


def _prepare(xb, yb, wb, spec):
    """On the worker: one partition checked and converted once per fit, as fit checks X, y
    and sample_weight; returns the partition {"X", "Y", "w", "n", "wsum"} that stays there."""
    X = _values(xb)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = _values(yb)
    n = X.shape[0]
    w = None
    if wb is not None:
        w = np.asarray(_values(wb), np.float64).reshape(-1)
        if spec["drop_zero_weights"] and w.shape == (n,) and (w == 0).any():
            keep = w > 0
            X, y, w, n = X[keep], y[keep], w[keep], int(keep.sum())
        w = _checks.check_sample_weight(w, n, np.float64)
    if n == 0:
        return {"X": None, "Y": None, "w": None, "n": 0, "wsum": 0.0}
    dtype = np.dtype(spec["dtype"])
    X = _checks.check_X(X, spec["n_features"], dtype)
    Y = np.ascontiguousarray(spec["targets"](y, n), dtype=dtype)
    wsum = float(n if w is None else w.sum())
    w = None if w is None else np.ascontiguousarray(w, dtype=dtype)
    return {"X": X, "Y": Y, "w": w, "n": n, "wsum": wsum}


def _info(part):
    """(rows, weight sum, the first PROBE_ROWS rows of X and Y)."""
    if part["n"] == 0:
        return 0, 0.0, None, None
    return part["n"], part["wsum"], part["X"][:PROBE_ROWS], part["Y"][:PROBE_ROWS]


class _Rows:
    """Stands for the targets where the loop only needs their shape."""

    def __init__(self, shape):
        self.shape = shape


class Partitions:
    """The prepared partitions of one fit, as futures on the workers, and what the client
    knows of them (rows, weight sums, a few probe rows). Release with release()."""

    def __init__(self, client, futures, sizes, wsums, n_features, n_outputs, probe, net):
        keep = [i for i, s in enumerate(sizes) if s > 0]  # empty partitions take no tasks
        self.client = client
        self.futures = [futures[i] for i in keep]
        self.sizes = [sizes[i] for i in keep]
        self.wsums = [wsums[i] for i in keep]
        self.n = int(sum(self.sizes))
        self.W = float(sum(self.wsums))
        self.shape = (self.n, n_features)
        self.Y = _Rows((self.n, n_outputs))
        self.probe_X, self.probe_Y = probe
        layout = net._layout
        self.fold = layout.batch_statistics is not None
        self.spec = {
            "backend": net.backend,
            "specs": layout.specs,
            "loss": net.loss_name,
            "dtype": net.dtype.name,
            "seed": net.seed,
            "fold": self.fold,
        }
        from .reference.network import Network

        # the twin's flat views: the decay mask and the per-layer gradient slices
        self._twin = Network(layout.specs, net.loss_name, net.dtype, net.seed)
        self.bytes_moved = 0  # training traffic: broadcasts and results, in bytes
        self.rounds = 0

    def __len__(self):
        return self.n

    def steps_per_epoch(self, batch_size):
        """Optimizer steps per epoch each partition takes (the largest: the schedule's step
        count); 1 for full batch."""
        if batch_size >= self.n:
            return 1
        return max(self._local_steps(batch_size))

    def local_batch_sizes(self, batch_size):
        """batch_size is the global batch (Keras' MirroredStrategy convention): partition p
        takes batches of about batch_size * n_p / n rows (at least 1, 2 with batch norm), so
        every partition takes about as many steps per epoch as the single machine would."""
        low = 2 if self.fold else 1
        return [min(s, max(low, int(round(batch_size * s / self.n)))) for s in self.sizes]

    def _local_steps(self, batch_size):
        return [
            len(batch_bounds(s, b, self.fold))
            for s, b in zip(self.sizes, self.local_batch_sizes(batch_size))
        ]

    def release(self):
        for f in self.futures:
            f.release()
        self.futures = []

    # ---- one round: broadcast, one task per partition, gather ----------------------------
    def _round(self, fn, payload, *args, per_part=None):
        """fn(part, payload, spec, *args[, per_part[i]]) on every partition; the results in
        partition order. A round is a pure function of the payload, so one that loses a
        worker is run again (Dask recomputes the lost partitions from their graph), up to
        ROUND_ATTEMPTS times, then RuntimeError; any other failure, or Ctrl-C, cancels the
        round's tasks and propagates. The caller rolls the model back either way."""
        payload_bytes = sum(a.nbytes for a in payload.values())
        for attempt in range(ROUND_ATTEMPTS):
            futures = []
            try:
                # to one worker; the others fetch it from there when their task needs it (as
                # many bytes as a broadcast; a broadcast to a worker that just died hangs)
                [pf] = self.client.scatter([payload], hash=False)
                futures = [
                    self.client.submit(
                        fn,
                        part,
                        pf,
                        self.spec,
                        *args,
                        *([] if per_part is None else [per_part[i]]),
                        pure=False,
                    )
                    for i, part in enumerate(self.futures)
                ]
                results = _gather_interruptibly(self.client, futures)
                break
            except BaseException as exc:  # Ctrl-C, a failed task: nothing keeps running
                if futures:
                    self.client.cancel(futures)
                if not _worker_lost(exc):
                    raise
                if attempt + 1 == ROUND_ATTEMPTS:
                    raise RuntimeError(
                        f"Dask workers were lost in {ROUND_ATTEMPTS} attempts at one training "
                        f"round ({type(exc).__name__}: {exc}); the model holds the weights "
                        "after the last completed epoch"
                    ) from exc
        workers = len(self.client.scheduler_info(n_workers=-1)["workers"]) or 1
        self.bytes_moved += payload_bytes * min(workers, len(self.futures)) + sum(
            _nbytes(r) for r in results
        )
        self.rounds += 1
        return results

    def loss_and_gradients(self, engine, training, step):
        """(weighted mean loss, flat float64 gradient) over all partitions at the engine's
        current parameters and state: the partitions' shares summed in partition order."""
        payload = {"params": engine.get_params(), "state": engine.get_state()}
        results = self._round(_part_gradients, payload, bool(training), int(step))
        value = 0.0
        grad = np.zeros(payload["params"].size, np.float64)
        for v, g in results:  # partition order
            value += v
            grad += g
        return value / self.W, grad / self.W

    def train_epoch(self, net, options, opt_step, epoch, step):
        """One epoch on the cluster, with the engine's train_epoch result keys plus
        "opt_steps" (the optimizer steps the model's moments advanced by)."""
        if options.batch_size >= self.n:
            return self._full_batch_epoch(net._engine, options, opt_step, step)
        return self._local_epoch(net._engine, options, opt_step, epoch, step)

    def _full_batch_epoch(self, engine, options, opt_step, step):
        """One full-batch gradient step (reference/train.py's train_step on the summed
        gradient)."""
        from .reference import optim

        dtype = np.dtype(self.spec["dtype"])
        T = dtype.type
        value, grad64 = self.loss_and_gradients(engine, True, step)
        grad = grad64.astype(dtype)
        if options.clip_value > 0:
            np.clip(grad, T(-options.clip_value), T(options.clip_value), out=grad)
        norms = None
        if options.clip_norm > 0 or options.grad_norms:
            sq = [
                float((g.astype(np.float64) ** 2).sum()) for g in self._twin.layer_grad_views(grad)
            ]
            norms = np.sqrt(sq)
            if options.clip_norm > 0:
                factor = options.clip_norm / (np.sqrt(sum(sq)) + 1e-6)
                if factor < 1:
                    grad *= T(factor)
        lr = float(options.lrs[0]) if options.lrs is not None else float(options.lr)
        opt = {
            **options.optimizer,
            "lr": lr,
            "weight_decay": options.weight_decay,
            "sklearn_eps": options.sklearn_eps,
        }
        decay = options.weight_decay + (options.l2_alpha / self.W if options.l2_alpha > 0 else 0.0)
        params = engine.get_params()
        moments = engine.get_optimizer_state()
        P = params.size
        m, v = moments[:P].copy(), moments[P:].copy()
        optim.optimizer_step(opt, params, grad, m, v, decay * self._twin.decay, opt_step + 1)
        engine.set_params(params)
        engine.set_optimizer_state(np.concatenate([m, v]))
        return {
            "loss": value,
            "steps": 1,
            "opt_steps": 1,
            "step_losses": np.array([value] if options.step_losses else [], np.float64),
            "grad_norms": norms if options.grad_norms else np.zeros(0),
        }

    def _local_epoch(self, engine, options, opt_step, epoch, step):
        """Local SGD: one epoch per partition from the same weights, then the average."""
        batches = self.local_batch_sizes(options.batch_size)
        steps = self._local_steps(options.batch_size)
        starts = np.concatenate([[0], np.cumsum(steps)[:-1]]).astype(np.int64) + int(step)
        sent = dataclasses.replace(
            options, progress=None, sample_weight=None, check_interrupts=False, order=None
        )
        payload = {
            "params": engine.get_params(),
            "state": engine.get_state(),
            "moments": engine.get_optimizer_state(),
        }
        results = self._round(
            _part_epoch,
            payload,
            sent,
            int(opt_step),
            int(epoch),
            per_part=list(zip(starts.tolist(), batches)),
        )
        shares = np.array(self.wsums) / self.W
        out = {}
        for key in ("params", "state", "moments"):
            acc = np.zeros(payload[key].size, np.float64)
            for a, r in zip(shares, results):  # partition order
                acc += a * r[key]
            out[key] = acc.astype(payload[key].dtype)
        engine.set_params(out["params"])
        engine.set_state(out["state"])
        engine.set_optimizer_state(out["moments"])
        loss = float(sum(a * r["loss"] for a, r in zip(shares, results)))
        grad_norms = (
            sum(a * np.asarray(r["grad_norms"], np.float64) for a, r in zip(shares, results))
            if options.grad_norms
            else np.zeros(0)
        )
        return {
            "loss": loss,
            "steps": int(sum(steps)),
            "opt_steps": int(max(steps)),
            "step_losses": np.concatenate(
                [np.asarray(r["step_losses"], np.float64) for r in results]
            )
            if options.step_losses
            else np.zeros(0),
            "grad_norms": grad_norms,
        }


def _gather_interruptibly(client, futures):
    """client.gather(futures), with Ctrl-C honoured. Left to Python's handler, the
    KeyboardInterrupt of a Ctrl-C is raised wherever the main thread is, and often that is
    a Future's __del__, which swallows it (the fit then went on: seen in 1 of 3 CI runs).
    Here SIGINT only sets a flag, read between short waits for the round's tasks; the
    handler that was installed is then called (Python's default raises KeyboardInterrupt)."""
    installed = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(installed):
        return client.gather(futures)  # (SIGINT ignored, or its default: nothing to honour)
    import distributed

    hit = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hit.append(frame))
    try:
        while not hit:
            try:
                distributed.wait(futures, timeout=0.1)
                break
            except TimeoutError:
                continue
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        if callable(previous):
            previous(signal.SIGINT, hit[0])
        raise KeyboardInterrupt
    return client.gather(futures)


def _worker_lost(exc):
    """Whether exc says a worker (and the data it held) was lost rather than a task failing."""
    lost = ("KilledWorker", "FutureCancelledError", "CancelledError", "CommClosedError")
    return type(exc).__name__ in lost or isinstance(exc, (ConnectionError, TimeoutError))


def _nbytes(r):
    if isinstance(r, np.ndarray):
        return r.nbytes
    if isinstance(r, dict):
        return sum(_nbytes(v) for v in r.values())
    if isinstance(r, (tuple, list)):
        return sum(_nbytes(v) for v in r)
    return 8


def partitions(net, X, y, sample_weight, targets, drop_zero_weights=False):
    """Prepares the partitions of (X, y, sample_weight) on the current client's workers for
    the model net (its n_features_in_ and dtype); targets(y_block, n) makes a block's target
    matrix. Raises the first partition's ValueError when a block fails the checks."""
    c = client()
    if not is_dask(X):
        raise ValueError(
            f"X must be a Dask collection when y or sample_weight is one (got {type(X).__name__})"
        )
    if y is None:
        raise ValueError("y is required")
    blocks = _aligned_blocks(X, y, sample_weight)
    spec = {
        "n_features": net.n_features_in_,
        "dtype": net.dtype.name,
        "targets": targets,
        "drop_zero_weights": bool(drop_zero_weights),
    }
    import dask

    delayed = [dask.delayed(_prepare)(xb, yb, wb, spec) for xb, yb, wb in blocks]
    futures = c.compute(delayed)
    try:
        infos = c.gather(c.map(_info, futures, pure=False))
    except BaseException:
        c.cancel(futures)
        raise
    sizes = [i[0] for i in infos]
    if sum(sizes) == 0:
        c.cancel(futures)
        raise ValueError("X is empty: no samples in any partition")
    first = next(i for i in infos if i[0] > 0)
    return Partitions(
        c,
        futures,
        sizes,
        [i[1] for i in infos],
        net.n_features_in_,
        net.n_outputs_,
        (np.ascontiguousarray(first[2]), np.ascontiguousarray(first[3])),
        net,
    )


def sequential_partitions(net, X, y, sample_weight):
    targets = functools.partial(
        model_targets, loss=net.loss_name, n_outputs=net.n_outputs_, dtype=net.dtype
    )
    return partitions(net, X, y, sample_weight, targets)


# ---- the tasks (run on the workers) ----------------------------------------------------------
def _worker_threads():
    """The worker's thread count: the C++ engine's pool runs that many threads per task."""
    try:
        from distributed import get_worker

        worker = get_worker()
        state = getattr(worker, "state", worker)
        return max(1, int(getattr(state, "nthreads", 1)))
    except (ImportError, ValueError, AttributeError):
        return 1


def _engine(spec, payload):
    """The partition's C++ engine (Dask training needs backend="native") at the payload."""
    from . import _core

    cls = _core.Network32 if np.dtype(spec["dtype"]) == np.float32 else _core.Network64
    engine = cls(spec["specs"], spec["loss"], spec["seed"])
    engine.set_params(payload["params"])
    engine.set_state(payload["state"])
    if "moments" in payload:
        engine.set_optimizer_state(payload["moments"])
    return engine


def _threads(spec):
    from ._threads import limited

    return limited(_worker_threads())


def _part_gradients(part, payload, spec, training, step):
    """The partition's weight sum times its (weighted mean) loss and gradient (float64)."""
    with _threads(spec):
        engine = _engine(spec, payload)
        value, grad = engine.gradients(part["X"], part["Y"], training, step, part["w"])
    share = part["wsum"]
    return float(value) * share, np.asarray(grad, np.float64) * share


def _part_epoch(part, payload, spec, options, opt_step, epoch, step_and_batch):
    """One epoch of the engine's minibatch training on the partition, its dropout steps
    from `step` on, in batches of `batch` rows."""
    step, batch = step_and_batch
    n_steps = len(batch_bounds(part["n"], batch, spec["fold"]))
    lrs = None if options.lrs is None else list(options.lrs)[:n_steps]
    with _threads(spec):
        engine = _engine(spec, payload)
        opts = dataclasses.replace(options, sample_weight=part["w"], lrs=lrs, batch_size=batch)
        r = engine.train_epoch(part["X"], part["Y"], opts, opt_step, epoch, step)
        return {
            "params": engine.get_params(),
            "state": engine.get_state(),
            "moments": engine.get_optimizer_state(),
            "loss": float(r["loss"]),
            "step_losses": np.asarray(r["step_losses"], np.float64),
            "grad_norms": np.asarray(r["grad_norms"], np.float64),
        }
