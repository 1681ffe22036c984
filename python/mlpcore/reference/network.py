"""The network engine of the NumPy twin (twin of cpp/include/mlpcore/network.hpp).

A network is a list of layer specs, tuples as the C++ engine takes them:
    ("dense", n_in, n_out)  ("identity",) ("step",) ("sign",) ("sigmoid",) ("tanh",) ("relu",)
    ("batchnorm", n_features, momentum, eps)  ("dropout", p)
followed by a fused output/loss pair (losses.NAMES). Parameters live in one flat vector in
layer order [W1, b1, ..., gamma, beta, ...]; batch-norm running statistics in another flat
vector [running_mean, running_var] per batch-norm layer. The engine validates nothing: the
Python API (mlpcore.sequential) checks every input before it reaches either engine.
"""
import numpy as np

from . import activations, layers, losses, train


def param_shapes(spec):
    """Shapes of one layer's parameters, in storage order."""
    if spec[0] == "dense":
        return [(spec[1], spec[2]), (spec[2],)]
    if spec[0] == "batchnorm":
        return [(spec[1],), (spec[1],)]
    return []


def state_shapes(spec):
    """Shapes of one layer's non-trainable state (batch-norm running mean and variance)."""
    return [(spec[1],), (spec[1],)] if spec[0] == "batchnorm" else []


def _views(flat, shapes_per_layer):
    """Per layer, the list of views into flat with the given shapes."""
    out, off = [], 0
    for shapes in shapes_per_layer:
        views = []
        for s in shapes:
            size = int(np.prod(s))
            views.append(flat[off:off + size].reshape(s))
            off += size
        out.append(views)
    return out


class Network:
    def __init__(self, specs, loss, dtype, seed):
        self.specs = [tuple(s) for s in specs]
        self.loss_name = loss
        self.dtype = np.dtype(dtype)
        self.seed = int(seed)
        pshapes = [param_shapes(s) for s in self.specs]
        sshapes = [state_shapes(s) for s in self.specs]
        self.params = np.zeros(sum(int(np.prod(s)) for l in pshapes for s in l), self.dtype)
        self.state = np.zeros(sum(int(np.prod(s)) for l in sshapes for s in l), self.dtype)
        self.opt_state = np.zeros(2 * self.params.size, self.dtype)  # optimizer moments m, v
        self._p = _views(self.params, pshapes)  # per layer: [W, b] or [gamma, beta] or []
        self._s = _views(self.state, sshapes)   # per layer: [running_mean, running_var] or []
        for spec, s in zip(self.specs, self._s):
            if spec[0] == "batchnorm":
                s[1][:] = 1  # running variance starts at one, as in PyTorch
        # 1 on dense weight matrices, 0 elsewhere: where weight decay applies
        self.decay = np.zeros_like(self.params)
        for spec, views in zip(self.specs, _views(self.decay, pshapes)):
            if spec[0] == "dense":
                views[0][:] = 1
        self.has_batchnorm = any(s[0] == "batchnorm" for s in self.specs)

    # ---- state -------------------------------------------------------------------------
    def get_params(self):
        return self.params.copy()

    def set_params(self, flat):
        self.params[:] = flat

    def get_state(self):
        return self.state.copy()

    def set_state(self, flat):
        self.state[:] = flat

    def get_optimizer_state(self):
        return self.opt_state.copy()

    def set_optimizer_state(self, flat):
        self.opt_state[:] = flat

    # ---- passes ------------------------------------------------------------------------
    def forward(self, x, training, step, update_running):
        """Runs every layer; returns the last net input z (B, K) and the per-layer caches.

        caches[i] holds what layer i's backward reads: its input for dense, its output for
        activations, (xhat, inv_std) for batch norm, the mask for dropout.
        """
        caches = []
        for i, (spec, p, s) in enumerate(zip(self.specs, self._p, self._s)):
            kind = spec[0]
            if kind == "dense":
                caches.append(x)
                x = layers.dense_forward(x, p[0], p[1])
            elif kind == "batchnorm":
                x, cache, rm, rv = layers.batchnorm_forward(
                    x, p[0], p[1], s[0], s[1], training, spec[2], spec[3], update_running)
                if update_running:
                    s[0][:], s[1][:] = rm, rv
                caches.append(cache)
            elif kind == "dropout":
                x, mask = layers.dropout_forward(x, spec[1], self.seed, step, i, training)
                caches.append(mask)
            else:
                x = activations.activation_forward(kind, x)
                caches.append(x)
        return x, caches

    def backward(self, dz, caches, training):
        """Backpropagates the output error dz (B, K); returns the flat gradient vector."""
        grad = np.zeros_like(self.params)
        g = _views(grad, [param_shapes(s) for s in self.specs])
        first_param = next((i for i, s in enumerate(self.specs) if param_shapes(s)), None)
        for i in range(len(self.specs) - 1, -1, -1):
            if first_param is None or i < first_param:
                break  # nothing below needs a gradient
            spec, p, cache = self.specs[i], self._p[i], caches[i]
            kind = spec[0]
            if kind == "dense":
                dz, g[i][0][:], g[i][1][:] = layers.dense_backward(dz, cache, p[0])
            elif kind == "batchnorm":
                dz, g[i][0][:], g[i][1][:] = layers.batchnorm_backward(dz, cache, p[0], training)
            elif kind == "dropout":
                dz = layers.dropout_backward(dz, cache)
            else:
                dz = activations.activation_backward(kind, dz, cache)
        return grad

    def predict(self, x, training=False, step=0):
        z, _ = self.forward(x, training, step, update_running=False)
        return losses.output_activation(self.loss_name, z)

    def loss(self, x, y, training=False, step=0):
        z, _ = self.forward(x, training, step, update_running=False)
        return losses.loss_forward(self.loss_name, z, y)[0]

    def gradients(self, x, y, training=False, step=0):
        """Mean loss and its gradient (flat) w.r.t. the parameters; updates nothing."""
        z, caches = self.forward(x, training, step, update_running=False)
        value, h = losses.loss_forward(self.loss_name, z, y)
        return value, self.backward(losses.loss_backward(h, y), caches, training)

    def train_epoch(self, x, y, batch_size, optimizer, opt_step, epoch, step, shuffle):
        return train.train_epoch(self, x, y, batch_size, optimizer, opt_step, epoch, step,
                                 shuffle)
