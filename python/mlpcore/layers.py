"""Layer objects of the Python API. They hold only configuration; the parameters live in
the Sequential that contains them (one flat buffer per engine)."""
import numbers
import math


MAX_WIDTH = 2**31 - 1  # the BLAS takes 32-bit sizes


def _check_int(name, value, cls, minimum=1):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not minimum <= value <= MAX_WIDTH):
        raise ValueError(f"{cls}: {name} must be an integer in [{minimum}, {MAX_WIDTH}], "
                         f"got {value!r}")
    return int(value)


def _check_real(name, value, cls):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{cls}: {name} must be a finite real number, got {value!r}")
    return float(value)


class Layer:
    """Base class. ``spec()`` is the tuple both engines are built from."""
    n_in = None   # required input width, None when any width passes
    n_out = None  # output width, None when equal to the input width

    def spec(self):
        raise NotImplementedError

    def get_config(self):
        """Constructor arguments: type(layer)(**layer.get_config()) rebuilds the layer."""
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer z = x @ W + b with W of shape (n_in, n_out), b of shape (n_out,).

    Initialisation (seeded by the Sequential): W is drawn uniformly from [-r, r] with
    r = sqrt(6 / n_in) (He/Kaiming-uniform) when the next activation is ReLU, and
    r = sqrt(6 / (n_in + n_out)) (Glorot/Xavier-uniform) otherwise; b starts at zero.
    """

    def __init__(self, n_in, n_out):
        self.n_in = _check_int("n_in", n_in, "Dense")
        self.n_out = _check_int("n_out", n_out, "Dense")

    def spec(self):
        return ("dense", self.n_in, self.n_out)

    def get_config(self):
        return {"n_in": self.n_in, "n_out": self.n_out}

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class Activation(Layer):
    name = None

    def spec(self):
        return (self.name,)


class Identity(Activation):
    """h = z."""
    name = "identity"


class Step(Activation):
    """Heaviside step: h = 1 if z >= 0 else 0. Forward only: its derivative is zero almost
    everywhere, so no gradient-based training can pass through it."""
    name = "step"


class Sign(Activation):
    """h = +1 if z >= 0 else -1. Forward only, like Step."""
    name = "sign"


class Sigmoid(Activation):
    """Logistic function h = 1 / (1 + exp(-z)), computed without overflow."""
    name = "sigmoid"


class Tanh(Activation):
    """h = tanh(z)."""
    name = "tanh"


class ReLU(Activation):
    """h = max(z, 0); derivative 1 where z > 0 and 0 elsewhere (also at z = 0)."""
    name = "relu"


class BatchNorm(Layer):
    """Batch normalisation over the features of a (batch, n_features) input.

    Training mode: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, with the batch mean
    and the biased (1/n) batch variance, and the running estimates updated as
    running = (1 - momentum) * running + momentum * batch_stat, where the running variance
    receives the unbiased (1/(n-1)) batch variance. Evaluation mode normalises with the
    running estimates. These are PyTorch's conventions (BatchNorm1d), so models port both
    ways. The lecture normalises with the 1/(n-1) variance in training as well; that is a
    documented difference, not an option here.

    gamma (init 1) and beta (init 0) are trainable parameters in get_weights(); the running
    mean (init 0) and variance (init 1) are state: Sequential.get_state()/set_state().
    """

    def __init__(self, n_features, momentum=0.1, eps=1e-5):
        self.n_in = _check_int("n_features", n_features, "BatchNorm")
        self.n_out = self.n_in
        self.momentum = _check_real("momentum", momentum, "BatchNorm")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"BatchNorm: momentum must lie in [0, 1], got {momentum!r}")
        self.eps = _check_real("eps", eps, "BatchNorm")
        if self.eps <= 0:
            raise ValueError(f"BatchNorm: eps must be > 0, got {eps!r}")

    def spec(self):
        return ("batchnorm", self.n_in, self.momentum, self.eps)

    def get_config(self):
        return {"n_features": self.n_in, "momentum": self.momentum, "eps": self.eps}

    def __repr__(self):
        return f"BatchNorm({self.n_in}, momentum={self.momentum}, eps={self.eps})"


class Dropout(Layer):
    """Inverted dropout: in training each element is kept with probability 1 - p and scaled
    by 1 / (1 - p); in evaluation it is the identity. p in [0, 1); p = 0 is the identity.

    Masks come from a counter-based generator keyed by (model seed, training step, layer
    index, element index), identical in both engines and independent of thread count."""

    def __init__(self, p=0.5):
        self.p = _check_real("p", p, "Dropout")
        if not 0 <= self.p < 1:
            raise ValueError(f"Dropout: p must lie in [0, 1), got {p!r}")

    def spec(self):
        return ("dropout", self.p)

    def get_config(self):
        return {"p": self.p}

    def __repr__(self):
        return f"Dropout(p={self.p})"
