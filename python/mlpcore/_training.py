"""Sequential.fit: its arguments, checked, and the epoch loop. The loop is a client of the
engine's narrow interface (train_epoch, loss, get/set of the flat buffers): every epoch runs
in the engine, and Python is back once per epoch for the history, early stopping and the
callback."""
import numpy as np

from . import _checks


def fit(net, X, y, epochs, batch_size, lr, shuffle, weight_decay, optimizer, momentum,
        nesterov, betas, adam_eps, validation_data, patience, callback):
    """Checks every argument (nothing changes on a ValueError), then runs the epochs under
    the model's fit lock; returns the per-epoch training losses."""
    X = _checks.check_X(X, net.n_features_in_, net.dtype)
    Y = _checks.check_targets(y, net.loss_name, X.shape[0], net.n_outputs_, net.dtype)
    epochs = _checks.check_nonnegative_int("epochs", epochs)
    batch_size = min(_checks.check_positive_int("batch_size", batch_size), X.shape[0])
    opt = _checks.check_optimizer(optimizer, momentum, nesterov, betas, adam_eps, lr=lr,
                                  weight_decay=weight_decay, dtype=net.dtype)
    Xv = Yv = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = _checks.check_X(validation_data[0], net.n_features_in_, net.dtype, "X_val")
        Yv = _checks.check_targets(validation_data[1], net.loss_name, Xv.shape[0],
                                   net.n_outputs_, net.dtype, "y_val")
    if patience is not None:
        patience = _checks.check_positive_int("patience", patience)
        if validation_data is None:
            raise ValueError("patience (early stopping) needs validation_data")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable, got {callback!r}")
    net._layout.check_differentiable()
    if X.shape[0] < 2:
        net._layout.check_batch(X.shape[0], f"X has {X.shape[0]} training sample")
    net._layout.check_batch(batch_size, f"batch_size={batch_size}")
    with net._fit_lock:
        return _epochs(net, X, Y, epochs, batch_size, opt, shuffle, Xv, Yv, patience, callback)


def _epochs(net, X, Y, epochs, batch_size, opt, shuffle, Xv, Yv, patience, callback):
    """The epochs of fit, each one all or nothing: an epoch that fails (divergence, an
    exception, Ctrl-C) leaves weights, state, moments and counters as they were before it."""
    losses = []
    best = (np.inf, None)  # (validation loss, (params, state)) of the best epoch
    since_best = 0
    settings = {k: v for k, v in opt.items() if k not in ("lr", "weight_decay")}
    for _ in range(epochs):
        before = (net._engine.get_params(), net._engine.get_state(),
                  net._engine.get_optimizer_state(), net.optimizer_, net.opt_steps_)
        committed = False
        try:
            if settings != net.optimizer_:  # another optimizer starts from zero moments
                net._engine.set_optimizer_state(np.zeros_like(before[2]))
                net.optimizer_, net.opt_steps_ = settings, 0
            result = net._engine.train_epoch(X, Y, batch_size, opt, net.opt_steps_,
                                             net.epoch_, net.step_, bool(shuffle))
            value, steps = result["loss"], result["steps"]
            # The last batch's update is not in the epoch loss: check the weights and
            # the batch-norm running statistics as well.
            if not (np.isfinite(value) and np.isfinite(net._engine.get_params()).all()
                    and np.isfinite(net._engine.get_state()).all()):
                raise FloatingPointError(
                    f"training diverged in epoch {net.epoch_} (loss {value}; weights or "
                    "batch-norm statistics overflowed); the weights and state from before "
                    "that epoch were restored. Try a smaller lr or rescale the inputs.")
            logs = {"epoch": net.epoch_, "loss": float(value)}
            net.epoch_, net.step_, net.opt_steps_ = (
                net.epoch_ + 1, net.step_ + int(steps), net.opt_steps_ + int(steps))
            committed = True
        finally:
            if not committed:
                net._engine.set_params(before[0])
                net._engine.set_state(before[1])
                net._engine.set_optimizer_state(before[2])
                net.optimizer_, net.opt_steps_ = before[3], before[4]
        losses.append(float(value))
        net.history_["loss"].append(float(value))
        if Xv is not None:
            logs["val_loss"] = float(net._engine.loss(Xv, Yv, False, net.step_))
            net.history_.setdefault("val_loss", []).append(logs["val_loss"])
            if logs["val_loss"] < best[0]:
                best = (logs["val_loss"], (net._engine.get_params(), net._engine.get_state()))
                since_best = 0
            else:
                since_best += 1
        if callback is not None and callback(net, logs):
            break
        if patience is not None and since_best >= patience:
            if best[1] is not None:  # None: no finite validation loss was ever seen
                net._engine.set_params(best[1][0])
                net._engine.set_state(best[1][1])
            break
    return losses
