"""Fully connected layers, ReLU, the softmax loss and a fully connected net.

Every layer is a pair of static methods: `forward` returns `(out, cache)` and
`backward(dout, cache)` returns the gradients of its inputs. The cache holds
everything the backward pass needs, and nothing else reads it.
"""
import math

import torch

from . import _checks


class Linear:

    @staticmethod
    def forward(x, w, b):
        """Affine map `out = x.reshape(N, D) @ w + b`.

        Inputs:
        - x: (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
        - w: (D, M) weights
        - b: (M,) biases

        Returns (out, cache):
        - out: (N, M)
        - cache: (x, w, b)
        """
        _checks.tensor("x", x, min_ndim=1)
        _checks.tensor("w", w, ndim=2)
        _checks.tensor("b", b, ndim=1)
        D = math.prod(x.shape[1:])
        if w.shape[0] != D:
            raise ValueError(f"Linear.forward: x has {D} features per example "
                             f"but w has shape {tuple(w.shape)}")
        _checks.shape("b", b, (w.shape[1],))
        # YOUR CODE HERE
        raise NotImplementedError("Implement Linear.forward in scratchnn/layers.py")
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Gradients of the affine map.

        Inputs:
        - dout: (N, M) upstream gradient
        - cache: from Linear.forward

        Returns (dx, dw, db) with the shapes of x, w and b.
        """
        # YOUR CODE HERE
        raise NotImplementedError("Implement Linear.backward in scratchnn/layers.py")
        return dx, dw, db


class ReLU:

    @staticmethod
    def forward(x):
        """Rectified linear unit, `out = max(x, 0)` elementwise.

        Input: x of any shape. Returns (out, cache): out with the shape of x,
        cache = x.
        """
        _checks.tensor("x", x)
        # YOUR CODE HERE
        raise NotImplementedError("Implement ReLU.forward in scratchnn/layers.py")
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Gradient of ReLU: dout where x > 0, else 0.

        Inputs: dout of any shape, cache from ReLU.forward. Returns dx, shape of dout.
        """
        # YOUR CODE HERE
        raise NotImplementedError("Implement ReLU.backward in scratchnn/layers.py")
        return dx


class Linear_ReLU:

    @staticmethod
    def forward(x, w, b):
        """Linear followed by ReLU.

        Inputs: x (N, d_1..d_k), w (D, M), b (M,).
        Returns (out (N, M), cache).
        """
        # YOUR CODE HERE
        raise NotImplementedError("Implement Linear_ReLU.forward in scratchnn/layers.py")
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Backward pass of Linear_ReLU.

        Inputs: dout (N, M), cache. Returns (dx, dw, db).
        """
        # YOUR CODE HERE
        raise NotImplementedError("Implement Linear_ReLU.backward in scratchnn/layers.py")
        return dx, dw, db


def softmax_loss(x, y):
    """Mean cross-entropy of softmax scores, and its gradient.

    Inputs:
    - x: (N, C) scores; x[i, j] is the score of class j for example i
    - y: (N,) int64 labels with 0 <= y[i] < C

    Returns (loss, dx):
    - loss: scalar tensor, mean over the N examples
    - dx: (N, C) gradient of the loss with respect to x

    Numerically stable: the row max is subtracted before exponentiating, so
    scores of 1000 give finite results.
    """
    _checks.tensor("x", x, ndim=2)
    _checks.labels(y, x.shape[0], x.shape[1])
    # Any integer dtype is accepted; as int64 a uint8 y can never index as a mask.
    y = y.to(torch.int64)
    # YOUR CODE HERE
    raise NotImplementedError("Implement softmax_loss in scratchnn/layers.py")
    return loss, dx


class FullyConnectedNet:
    """A fully connected net with an arbitrary number of hidden layers:

        {linear - [norm] - relu - [dropout]} x (L - 1) - linear - softmax

    Parameters live in `self.params`: W1..WL, b1..bL, and, when normalized,
    gamma1..gamma(L-1) (ones) and beta1..beta(L-1) (zeros).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,
                 dropout=0.0, normalization=None, reg=0.0, weight_scale=1e-2,
                 seed=None, dtype=torch.float32, device='cpu'):
        """
        Inputs:
        - hidden_dims: list of hidden layer sizes
        - input_dim: size D of one flattened input
        - num_classes: number C of classes
        - dropout: drop probability p in [0, 1); 0 disables dropout
        - normalization: None, 'batchnorm' or 'layernorm'
        - reg: L2 strength; the loss adds reg * sum(W**2) over the weights
        - weight_scale: std of a normal init, or 'xavier' / 'kaiming'
        - seed: makes the initialization and the dropout masks repeatable
        - dtype, device: of every parameter
        """
        if normalization not in (None, 'batchnorm', 'layernorm'):
            raise ValueError(f"unknown normalization {normalization!r}; "
                             "expected None, 'batchnorm' or 'layernorm'")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if isinstance(weight_scale, str) and weight_scale not in ('xavier', 'kaiming'):
            raise ValueError(f"unknown weight_scale {weight_scale!r}; "
                             "expected a float, 'xavier' or 'kaiming'")
        self.normalization = normalization
        self.use_dropout = dropout != 0
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.device = torch.device(device)
        self.params = {}
        # Imported here, not at the top, so that a broken init.py, dropout.py
        # or normalization.py costs only the net, never Linear or ReLU.
        from .init import kaiming_normal, xavier_normal
        if seed is not None:
            torch.manual_seed(seed)
        # YOUR CODE HERE
        raise NotImplementedError("Implement FullyConnectedNet.__init__ in scratchnn/layers.py")

        # Dropout and normalization layers keep per-layer settings and state.
        self.dropout_param = {'mode': 'train', 'p': dropout}
        if seed is not None:
            self.dropout_param['seed'] = seed
        self.bn_params = []
        if normalization is not None:
            self.bn_params = [{'mode': 'train'} for _ in range(self.num_layers - 1)]

    def loss(self, X, y=None):
        """Scores, or the loss and gradients.

        Inputs:
        - X: (N, d_1, ..., d_k) inputs
        - y: (N,) labels, or None

        Returns:
        - when y is None (test mode): scores (N, C)
        - else (train mode): (loss, grads), grads[k] the gradient of params[k]
        """
        from .dropout import Dropout
        from .normalization import BatchNorm, LayerNorm
        X = X.to(dtype=self.dtype)
        mode = 'test' if y is None else 'train'
        self.dropout_param['mode'] = mode
        for bn_param in self.bn_params:
            bn_param['mode'] = mode
        # YOUR CODE HERE
        raise NotImplementedError("Implement FullyConnectedNet.loss in scratchnn/layers.py")
        return loss, grads
