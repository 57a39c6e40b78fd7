"""Convolution and max-pooling layers, given whole.

Same style as the student layers (forward returns (out, cache), backward takes
(dout, cache)), built on torch's convolution ops: this is not student code, it
lets the notebooks build small conv nets around the student's spatial
BatchNorm and Kaiming init.
"""
import torch
import torch.nn.functional as F

from . import _checks


class Conv:

    @staticmethod
    def forward(x, w, b, conv_param):
        """2-D convolution (cross-correlation, as in every framework).

        Inputs:
        - x: (N, C, H, W)
        - w: (F, C, HH, WW) filters
        - b: (F,) biases
        - conv_param: dict with keys stride (default 1) and pad (default 0),
          zero padding on each side

        Returns (out, cache): out (N, F, H', W') with
        H' = 1 + (H + 2 * pad - HH) // stride, W' likewise.
        """
        _checks.tensor("x", x, ndim=4)
        _checks.tensor("w", w, ndim=4)
        if w.shape[1] != x.shape[1]:
            raise ValueError(f"Conv: x has {x.shape[1]} channels, w expects {w.shape[1]}")
        _checks.shape("b", b, (w.shape[0],))
        stride, pad = conv_param.get('stride', 1), conv_param.get('pad', 0)
        out = F.conv2d(x, w, b, stride=stride, padding=pad)
        return out, (x, w, stride, pad)

    @staticmethod
    def backward(dout, cache):
        """Inputs: dout (N, F, H', W'), cache. Returns (dx, dw, db) shaped like x, w, b."""
        x, w, stride, pad = cache
        dx = torch.nn.grad.conv2d_input(x.shape, w, dout, stride=stride, padding=pad)
        dw = torch.nn.grad.conv2d_weight(x, w.shape, dout, stride=stride, padding=pad)
        db = dout.sum(dim=(0, 2, 3))
        return dx, dw, db


class MaxPool:

    @staticmethod
    def forward(x, pool_param):
        """Max pooling.

        Inputs:
        - x: (N, C, H, W)
        - pool_param: dict with keys pool_height, pool_width (default 2) and
          stride (default 2)

        Returns (out, cache): out (N, C, H', W') with
        H' = 1 + (H - pool_height) // stride, W' likewise.
        """
        _checks.tensor("x", x, ndim=4)
        ph, pw = pool_param.get('pool_height', 2), pool_param.get('pool_width', 2)
        stride = pool_param.get('stride', 2)
        out, idx = F.max_pool2d(x, (ph, pw), stride=stride, return_indices=True)
        return out, (x.shape, idx)

    @staticmethod
    def backward(dout, cache):
        """Inputs: dout (N, C, H', W'), cache. Returns dx (N, C, H, W): each
        upstream gradient flows to the max of its window (summed where windows
        overlap)."""
        x_shape, idx = cache
        N, C = x_shape[:2]
        dx = torch.zeros(x_shape, dtype=dout.dtype, device=dout.device)
        dx.view(N, C, -1).scatter_add_(2, idx.view(N, C, -1), dout.reshape(N, C, -1))
        return dx
