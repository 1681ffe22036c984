"""The metrics fit records and evaluate returns, per loss, from the output activations
H (n, K), the target matrix Y (n, K) (as _checks.check_targets builds it) and optional
sample weights w (n,):

    softmax_cross_entropy: accuracy   weighted share of rows whose argmax of H is Y's argmax
    binary_cross_entropy:  accuracy   weighted share of outputs with (H > 0.5) == (Y > 0.5)
                                      (Keras's binary_accuracy; one output: plain accuracy)
    hinge, squared_hinge:  accuracy   weighted share of outputs with (H >= 0) == (Y > 0.5):
                                      the sign of the margin against the label (+1 vs -1 or 0),
                                      as predict_classes
    mse, poisson:          r2         1 - SS_res / SS_tot per output, averaged over outputs
                                      (scikit-learn's r2_score; a constant target scores 1.0
                                      when predicted exactly, else 0.0)
                           mae        weighted mean over rows of the mean |H - Y| over outputs
All sums in float64.
"""

import numpy as np

NAMES = {
    "softmax_cross_entropy": ("accuracy",),
    "binary_cross_entropy": ("accuracy",),
    "mse": ("r2", "mae"),
    "poisson": ("r2", "mae"),
    "hinge": ("accuracy",),
    "squared_hinge": ("accuracy",),
}


def _mean(values, w):
    return float(np.average(values, weights=w))


def compute(loss, H, Y, w=None):
    """{metric name: value} for the loss's metrics."""
    H = np.asarray(H, np.float64)
    Y = np.asarray(Y, np.float64)
    w = None if w is None else np.asarray(w, np.float64)
    if loss == "softmax_cross_entropy":
        return {"accuracy": _mean(H.argmax(axis=1) == Y.argmax(axis=1), w)}
    if loss == "binary_cross_entropy":
        return {"accuracy": _mean(((H > 0.5) == (Y > 0.5)).mean(axis=1), w)}
    if loss in ("hinge", "squared_hinge"):
        return {"accuracy": _mean(((H >= 0) == (Y > 0.5)).mean(axis=1), w)}
    ww = np.ones(len(Y)) if w is None else w
    mean = np.average(Y, axis=0, weights=ww)
    ss_tot = (ww[:, None] * (Y - mean) ** 2).sum(axis=0)
    ss_res = (ww[:, None] * (Y - H) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(
            ss_tot > 0,
            1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
            np.where(ss_res == 0, 1.0, 0.0),
        )
    return {"r2": float(r2.mean()), "mae": _mean(np.abs(H - Y).mean(axis=1), w)}
