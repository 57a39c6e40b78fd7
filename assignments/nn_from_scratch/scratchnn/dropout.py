"""Inverted dropout."""
import torch

from . import _checks


class Dropout:

    @staticmethod
    def forward(x, dropout_param):
        """Inverted dropout.

        Inputs:
        - x: input of any shape
        - dropout_param: dict with keys
          - p: drop probability, 0 <= p < 1
          - mode: 'train' drops each element with probability p and scales the
            kept ones by 1 / (1 - p); 'test' is the identity
          - seed (optional): if given, torch.manual_seed(seed) is called first

        Returns (out, cache): out with the shape of x; cache = (dropout_param, mask).
        """
        _checks.tensor("x", x)
        p, mode = dropout_param['p'], dropout_param['mode']
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the drop probability and must lie in [0, 1), got {p}")
        _checks.mode(mode, "Dropout.forward")
        if 'seed' in dropout_param:
            torch.manual_seed(dropout_param['seed'])
        # YOUR CODE HERE
        raise NotImplementedError("Implement Dropout.forward in scratchnn/dropout.py")
        return out, cache

    @staticmethod
    def backward(dout, cache):
        """Backward pass of inverted dropout.

        Inputs: dout of any shape, cache from Dropout.forward.
        Returns dx with the shape of dout.
        """
        # YOUR CODE HERE
        raise NotImplementedError("Implement Dropout.backward in scratchnn/dropout.py")
        return dx
