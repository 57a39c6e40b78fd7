"""Batch, spatial batch, layer and group normalization.

Each normalizes with a mean and a (biased) variance, then applies a learned
per-feature scale `gamma` and shift `beta`:

    out = gamma * (x - mean) / sqrt(var + eps) + beta

They differ only in which elements share a mean and variance.
"""
import torch

from . import _checks


def _check_affine(x_features, gamma, beta):
    _checks.tensor("gamma", gamma, ndim=1)
    _checks.tensor("beta", beta, ndim=1)
    _checks.shape("gamma", gamma, (x_features,))
    _checks.shape("beta", beta, (x_features,))


class BatchNorm:

    @staticmethod
    def forward(x, gamma, beta, bn_param):
        """Batch normalization over the N examples of each feature.

        Inputs:
        - x: (N, D)
        - gamma, beta: (D,) scale and shift
        - bn_param: dict with keys
          - mode: 'train' uses batch statistics, 'test' the running ones
          - eps: added to the variance (default 1e-5)
          - momentum: of the running averages (default 0.9)
          - running_mean, running_var: (D,); zeros when missing

        In train mode the running statistics are updated,
        running = momentum * running + (1 - momentum) * batch statistic
        (the variance is the biased one), and written back into bn_param.

        Returns (out, cache): out (N, D); cache for BatchNorm.backward.
        """
        _checks.tensor("x", x, ndim=2)
        _check_affine(x.shape[1], gamma, beta)
        mode = bn_param['mode']
        _checks.mode(mode, "BatchNorm.forward")
        eps = bn_param.get('eps', 1e-5)
        momentum = bn_param.get('momentum', 0.9)
        running_mean = bn_param.get('running_mean', torch.zeros_like(gamma))
        running_var = bn_param.get('running_var', torch.zeros_like(gamma))
        ### BEGIN SOLUTION
        if mode == 'train':
            mean = x.mean(dim=0)
            xc = x - mean
            var = (xc * xc).mean(dim=0)
            std = (var + eps).sqrt()
            x_hat = xc / std
            out = gamma * x_hat + beta
            cache = (x_hat, xc, std, gamma)
            running_mean = momentum * running_mean + (1 - momentum) * mean
            running_var = momentum * running_var + (1 - momentum) * var
        else:
            x_hat = (x - running_mean) / (running_var + eps).sqrt()
            out = gamma * x_hat + beta
            cache = None
        ### END SOLUTION
        bn_param['running_mean'] = running_mean
        bn_param['running_var'] = running_var
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Backward pass of a train-mode BatchNorm, node by node through the
        computational graph of the forward pass.

        Inputs: dout (N, D), cache from BatchNorm.forward.
        Returns (dx (N, D), dgamma (D,), dbeta (D,)).
        """
        ### BEGIN SOLUTION
        x_hat, xc, std, gamma = cache
        N = dout.shape[0]
        dbeta = dout.sum(dim=0)
        dgamma = (dout * x_hat).sum(dim=0)
        dx_hat = dout * gamma
        # x_hat = xc / std
        dxc = dx_hat / std
        dstd = -(dx_hat * xc).sum(dim=0) / (std * std)
        # std = sqrt(var + eps), var = mean(xc ** 2)
        dvar = dstd / (2 * std)
        dxc = dxc + 2 * xc * dvar / N
        # xc = x - mean(x)
        dx = dxc - dxc.sum(dim=0) / N
        ### END SOLUTION
        return dx, dgamma, dbeta

    @staticmethod
    def backward_alt(dout, cache):
        """Backward pass of a train-mode BatchNorm in simplified closed form:

            dx = (N * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)) / (N * std)

        with dx_hat = dout * gamma and sums over the batch.

        Inputs: dout (N, D), cache from BatchNorm.forward.
        Returns (dx (N, D), dgamma (D,), dbeta (D,)).
        """
        ### BEGIN SOLUTION
        x_hat, _, std, gamma = cache
        N, dx_hat = dout.shape[0], dout * gamma
        dx = (N * dx_hat - dx_hat.sum(dim=0) - x_hat * (dx_hat * x_hat).sum(dim=0)) / (N * std)
        dgamma, dbeta = (dout * x_hat).sum(dim=0), dout.sum(dim=0)
        ### END SOLUTION
        return dx, dgamma, dbeta


class SpatialBatchNorm:

    @staticmethod
    def forward(x, gamma, beta, bn_param):
        """Batch normalization of images: each channel is normalized over all
        N * H * W positions.

        Inputs:
        - x: (N, C, H, W)
        - gamma, beta: (C,)
        - bn_param: as for BatchNorm.forward, with (C,) running statistics

        Returns (out (N, C, H, W), cache).
        """
        _checks.tensor("x", x, ndim=4)
        _check_affine(x.shape[1], gamma, beta)
        ### BEGIN SOLUTION
        N, C, H, W = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(-1, C)
        out, cache = BatchNorm.forward(rows, gamma, beta, bn_param)
        out = out.reshape(N, H, W, C).permute(0, 3, 1, 2)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Inputs: dout (N, C, H, W), cache from SpatialBatchNorm.forward.

        Returns (dx (N, C, H, W), dgamma (C,), dbeta (C,)).
        """
        ### BEGIN SOLUTION
        N, C, H, W = dout.shape
        rows = dout.permute(0, 2, 3, 1).reshape(-1, C)
        dx, dgamma, dbeta = BatchNorm.backward_alt(rows, cache)
        dx = dx.reshape(N, H, W, C).permute(0, 3, 1, 2)
        ### END SOLUTION
        return dx, dgamma, dbeta


class LayerNorm:

    @staticmethod
    def forward(x, gamma, beta, ln_param):
        """Layer normalization: each example is normalized over its D features.
        Train and test mode are the same.

        Inputs:
        - x: (N, D)
        - gamma, beta: (D,)
        - ln_param: dict with key eps (default 1e-5)

        Returns (out (N, D), cache).
        """
        _checks.tensor("x", x, ndim=2)
        _check_affine(x.shape[1], gamma, beta)
        eps = ln_param.get('eps', 1e-5)
        ### BEGIN SOLUTION
        mean = x.mean(dim=1, keepdim=True)
        xc = x - mean
        std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()
        x_hat = xc / std
        out = gamma * x_hat + beta
        cache = (x_hat, std, gamma)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Inputs: dout (N, D), cache from LayerNorm.forward.

        Returns (dx (N, D), dgamma (D,), dbeta (D,)).
        """
        ### BEGIN SOLUTION
        x_hat, std, gamma = cache
        D = dout.shape[1]
        dbeta = dout.sum(dim=0)
        dgamma = (dout * x_hat).sum(dim=0)
        dx_hat = dout * gamma
        dx = (D * dx_hat - dx_hat.sum(dim=1, keepdim=True)
              - x_hat * (dx_hat * x_hat).sum(dim=1, keepdim=True)) / (D * std)
        ### END SOLUTION
        return dx, dgamma, dbeta


class GroupNorm:

    @staticmethod
    def forward(x, gamma, beta, G, gn_param):
        """Group normalization: the C channels of each example are split into G
        groups of C // G channels, and each group is normalized over its
        channels and positions. gamma and beta act per channel.

        Inputs:
        - x: (N, C, H, W) with C divisible by G
        - gamma, beta: (C,)
        - G: number of groups
        - gn_param: dict with key eps (default 1e-5)

        Returns (out (N, C, H, W), cache).
        """
        _checks.tensor("x", x, ndim=4)
        _check_affine(x.shape[1], gamma, beta)
        if not isinstance(G, int) or G <= 0 or x.shape[1] % G != 0:
            raise ValueError(f"GroupNorm: the {x.shape[1]} channels cannot be split "
                             f"into G={G} equal groups")
        eps = gn_param.get('eps', 1e-5)
        ### BEGIN SOLUTION
        N, C, H, W = x.shape
        groups = x.reshape(N, G, -1)
        mean = groups.mean(dim=2, keepdim=True)
        xc = groups - mean
        std = ((xc * xc).mean(dim=2, keepdim=True) + eps).sqrt()
        x_hat = (xc / std).reshape(N, C, H, W)
        out = gamma.view(1, C, 1, 1) * x_hat + beta.view(1, C, 1, 1)
        cache = (x_hat, std, gamma, G)
        ### END SOLUTION
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Inputs: dout (N, C, H, W), cache from GroupNorm.forward.

        Returns (dx (N, C, H, W), dgamma (C,), dbeta (C,)).
        """
        ### BEGIN SOLUTION
        x_hat, std, gamma, G = cache
        N, C, H, W = dout.shape
        dbeta = dout.sum(dim=(0, 2, 3))
        dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
        dx_hat = (dout * gamma.view(1, C, 1, 1)).reshape(N, G, -1)
        x_hat = x_hat.reshape(N, G, -1)
        M = dx_hat.shape[2]
        dx = (M * dx_hat - dx_hat.sum(dim=2, keepdim=True)
              - x_hat * (dx_hat * x_hat).sum(dim=2, keepdim=True)) / (M * std)
        dx = dx.reshape(N, C, H, W)
        ### END SOLUTION
        return dx, dgamma, dbeta
