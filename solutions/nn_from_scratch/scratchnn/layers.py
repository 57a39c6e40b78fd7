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
        ### BEGIN SOLUTION
        out = x.reshape(x.shape[0], -1) @ w + b
        cache = (x, w, b)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Gradients of the affine map.

        Inputs:
        - dout: (N, M) upstream gradient
        - cache: from Linear.forward

        Returns (dx, dw, db) with the shapes of x, w and b.
        """
        ### BEGIN SOLUTION
        x, w, b = cache
        dx = (dout @ w.T).reshape(x.shape)
        dw = x.reshape(x.shape[0], -1).T @ dout
        db = dout.sum(dim=0)
        ### END SOLUTION
        return dx, dw, db


class ReLU:

    @staticmethod
    def forward(x):
        """Rectified linear unit, `out = max(x, 0)` elementwise.

        Input: x of any shape. Returns (out, cache): out with the shape of x,
        cache = x.
        """
        _checks.tensor("x", x)
        ### BEGIN SOLUTION
        out = x.clamp(min=0)
        cache = x
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Gradient of ReLU: dout where x > 0, else 0.

        Inputs: dout of any shape, cache from ReLU.forward. Returns dx, shape of dout.
        """
        ### BEGIN SOLUTION
        x = cache
        dx = dout * (x > 0)
        ### END SOLUTION
        return dx


class Linear_ReLU:

    @staticmethod
    def forward(x, w, b):
        """Linear followed by ReLU.

        Inputs: x (N, d_1..d_k), w (D, M), b (M,).
        Returns (out (N, M), cache).
        """
        ### BEGIN SOLUTION
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        cache = (fc_cache, relu_cache)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Backward pass of Linear_ReLU.

        Inputs: dout (N, M), cache. Returns (dx, dw, db).
        """
        ### BEGIN SOLUTION
        fc_cache, relu_cache = cache
        da = ReLU.backward(dout, relu_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        ### END SOLUTION
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
    ### BEGIN SOLUTION
    N = x.shape[0]
    shifted = x - x.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    rows = torch.arange(N, device=x.device)
    loss = -log_probs[rows, y].mean()
    dx = log_probs.exp()
    dx[rows, y] -= 1
    dx = dx / N
    ### END SOLUTION
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
        ### BEGIN SOLUTION
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            din, dout = dims[i - 1], dims[i]
            if weight_scale == 'xavier':
                W = xavier_normal(din, dout, device=self.device, dtype=dtype)
            elif weight_scale == 'kaiming':
                # The last layer feeds the softmax, not a ReLU.
                W = kaiming_normal(din, dout, relu=i < self.num_layers,
                                   device=self.device, dtype=dtype)
            else:
                W = weight_scale * torch.randn(din, dout, device=self.device, dtype=dtype)
            self.params[f'W{i}'] = W
            self.params[f'b{i}'] = torch.zeros(dout, device=self.device, dtype=dtype)
            if normalization is not None and i < self.num_layers:
                self.params[f'gamma{i}'] = torch.ones(dout, device=self.device, dtype=dtype)
                self.params[f'beta{i}'] = torch.zeros(dout, device=self.device, dtype=dtype)
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        L = self.num_layers
        h, caches = X, []
        for i in range(1, L):
            h, fc_cache = Linear.forward(h, self.params[f'W{i}'], self.params[f'b{i}'])
            norm_cache = None
            if self.normalization == 'batchnorm':
                h, norm_cache = BatchNorm.forward(
                    h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[i - 1])
            elif self.normalization == 'layernorm':
                h, norm_cache = LayerNorm.forward(
                    h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[i - 1])
            h, relu_cache = ReLU.forward(h)
            drop_cache = None
            if self.use_dropout:
                h, drop_cache = Dropout.forward(h, self.dropout_param)
            caches.append((fc_cache, norm_cache, relu_cache, drop_cache))
        scores, last_cache = Linear.forward(h, self.params[f'W{L}'], self.params[f'b{L}'])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, dW, db = Linear.backward(dscores, last_cache)
        grads[f'W{L}'], grads[f'b{L}'] = dW, db
        for i in range(L - 1, 0, -1):
            fc_cache, norm_cache, relu_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dh = Dropout.backward(dh, drop_cache)
            dh = ReLU.backward(dh, relu_cache)
            if self.normalization == 'batchnorm':
                dh, grads[f'gamma{i}'], grads[f'beta{i}'] = BatchNorm.backward_alt(dh, norm_cache)
            elif self.normalization == 'layernorm':
                dh, grads[f'gamma{i}'], grads[f'beta{i}'] = LayerNorm.backward(dh, norm_cache)
            dh, grads[f'W{i}'], grads[f'b{i}'] = Linear.backward(dh, fc_cache)
        for i in range(1, L + 1):
            W = self.params[f'W{i}']
            loss = loss + self.reg * (W * W).sum()
            grads[f'W{i}'] = grads[f'W{i}'] + 2 * self.reg * W
        ### END SOLUTION
        return loss, grads
