"""The network engine of the NumPy twin (twin of cpp/include/mlpcore/network.hpp).

A network is a list of layer specs, tuples `(kind, n_in, n_out, *args)` as the C++ engine
takes them (layer_kinds.py lists them), followed by a fused output/loss pair (losses.NAMES).
Parameters live in one flat vector in layer order [W1, b1, ..., gamma, beta, ...]; batch-norm
running statistics in another flat vector [running_mean, running_var] per batch-norm layer.
Everything about a kind comes from the kind table: this file never branches on it. The
engine validates nothing but the kind names: the Python API (mlpcore.sequential) checks
every input before it reaches either engine.
"""

import numpy as np

from . import losses, train
from .layer_kinds import Run, kind


def _views(flat, shapes_per_layer):
    """Per layer, the list of views into flat with the given shapes."""
    out, off = [], 0
    for shapes in shapes_per_layer:
        views = []
        for s in shapes:
            size = int(np.prod(s))
            views.append(flat[off : off + size].reshape(s))
            off += size
        out.append(views)
    return out


def _size(shapes_per_layer):
    return sum(int(np.prod(s)) for shapes in shapes_per_layer for s in shapes)


class Network:
    """Implements mlpcore._engine.Engine, as the C++ Network32/Network64 do."""

    def __init__(self, specs, loss, dtype, seed):
        self.specs = [tuple(s) for s in specs]
        self.kinds = [kind(s) for s in self.specs]
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        self.seed = int(seed)
        params = [k.params(s) for k, s in zip(self.kinds, self.specs)]  # [(shape, decay)]
        states = [k.state(s) for k, s in zip(self.kinds, self.specs)]  # [(shape, initial)]
        pshapes = [[shape for shape, _ in layer] for layer in params]
        sshapes = [[shape for shape, _ in layer] for layer in states]
        self.params = np.zeros(_size(pshapes), self.dtype)
        self.state = np.zeros(_size(sshapes), self.dtype)
        self.opt_state = np.zeros(2 * self.params.size, self.dtype)  # optimizer moments m, v
        self._pshapes = pshapes
        self._p = _views(self.params, pshapes)  # per layer: [W, b] or [gamma, beta] or []
        self._s = _views(self.state, sshapes)  # per layer: [running_mean, running_var] or []
        for layer, views in zip(states, self._s):
            for (_, initial), v in zip(layer, views):
                v[...] = initial
        # (n_params,) float64: 1 where weight decay applies (dense weight matrices), 0 elsewhere
        self.decay = np.zeros(self.params.size, np.float64)
        for layer, views in zip(params, _views(self.decay, pshapes)):
            for (_, decay), v in zip(layer, views):
                v[...] = decay
        self.needs_batch_statistics = any(k.needs_batch_statistics for k in self.kinds)
        # backward stops below the first layer with parameters: nothing there needs a gradient
        self._first_param = next((i for i, p in enumerate(pshapes) if p), None)
        self._param_layers = [i for i, p in enumerate(pshapes) if p]  # dense, batch norm

    @property
    def n_param_layers(self):
        """Layers with parameters: the entries of train_epoch's grad_norms."""
        return len(self._param_layers)

    def layer_grad_views(self, grad):
        """Per parameter layer, the flat slice of grad (n_params,) holding its gradients."""
        views = _views(grad, self._pshapes)
        return [np.concatenate([v.ravel() for v in views[i]]) for i in self._param_layers]

    @property
    def n_inputs(self):
        """The input width (the first layer's n_in)."""
        return self.specs[0][1]

    @property
    def n_outputs(self):
        """The output width (the last layer's n_out)."""
        return self.specs[-1][2]

    # ---- state -------------------------------------------------------------------------
    def get_params(self):
        """A copy of the flat parameter vector [W1, b1, ...] (layer order)."""
        return self.params.copy()

    def set_params(self, flat):
        """Overwrites the flat parameter vector in place (same size)."""
        self.params[:] = flat

    def get_state(self):
        """A copy of the flat state vector [running_mean, running_var] per BatchNorm layer."""
        return self.state.copy()

    def set_state(self, flat):
        """Overwrites the flat state vector in place (same size)."""
        self.state[:] = flat

    def get_optimizer_state(self):
        """A copy of the flat optimizer moments (their layout: optim.py)."""
        return self.opt_state.copy()

    def set_optimizer_state(self, flat):
        """Overwrites the flat optimizer moments in place (same size)."""
        self.opt_state[:] = flat

    # ---- passes ------------------------------------------------------------------------
    def forward(self, x, training, step, update_running):
        """Runs every layer; returns the last net input z (B, K) and the per-layer caches
        (what each layer's backward reads, as its kind's forward returned it)."""
        caches = []
        for i, (k, spec, p, s) in enumerate(zip(self.kinds, self.specs, self._p, self._s)):
            x, cache = k.forward(spec, x, p, s, Run(training, step, self.seed, i, update_running))
            caches.append(cache)
        return x, caches

    def backward(self, dz, caches, training):
        """Backpropagates the output error dz (B, K); returns the flat gradient vector."""
        grad = np.zeros_like(self.params)
        if self._first_param is None:
            return grad
        g = _views(grad, self._pshapes)
        for i in range(len(self.specs) - 1, self._first_param - 1, -1):
            dz, grads = self.kinds[i].backward(self.specs[i], dz, caches[i], self._p[i], training)
            for view, value in zip(g[i], grads):
                view[...] = value
        return grad

    def predict(self, X, training=False, step=0):
        """The output activation of X (B, n_inputs): (B, n_outputs); training=True uses step's
        dropout masks and batch statistics (without updating the running statistics)."""
        z, _ = self.forward(X, training, step, update_running=False)
        return losses.output_activation(self.loss_name, z)

    def loss(self, X, Y, training=False, step=0, sample_weight=None):
        """The mean (or sample-weighted) loss of X against the target matrix Y (B, n_outputs)."""
        z, _ = self.forward(X, training, step, update_running=False)
        return losses.loss_forward(self.loss_name, z, Y, sample_weight)[0]

    def gradients(self, X, Y, training=False, step=0, sample_weight=None):
        """(Weighted) mean loss and its gradient (flat) w.r.t. the parameters; updates
        nothing."""
        z, caches = self.forward(X, training, step, update_running=False)
        value, h = losses.loss_forward(self.loss_name, z, Y, sample_weight)
        delta = losses.loss_backward(self.loss_name, h, Y, sample_weight)
        return value, self.backward(delta, caches, training)

    def train_epoch(self, X, Y, options, opt_step, epoch, step):
        """One epoch with the settings of `options` (an EpochOptions; train.train_epoch)."""
        return train.train_epoch(self, X, Y, options, opt_step, epoch, step)
