"""scratchnn: neural networks from scratch on torch tensors.

The contract (every name, signature and default) is docs/companion-api.md.
Student-written: layers, dropout, normalization, init, optim.
Given whole: gradcheck, data, solver, conv, device; public_checks (the graded
cells' checks), check (the self-check, `python -m scratchnn.check`) and colab
(the setup cell's helper in Google Colab).
"""
from . import conv, data, device, dropout, gradcheck, init, layers, normalization, optim, solver
from .conv import Conv, MaxPool
from .device import get_device
from .dropout import Dropout
from .gradcheck import gradcheck as check_gradient, numeric_gradient, rel_error
from .layers import FullyConnectedNet, Linear, Linear_ReLU, ReLU, softmax_loss
from .normalization import BatchNorm, GroupNorm, LayerNorm, SpatialBatchNorm
from .solver import Solver

__all__ = [
    'conv', 'data', 'device', 'dropout', 'gradcheck', 'init', 'layers', 'normalization',
    'optim', 'solver',
    'Conv', 'MaxPool', 'get_device', 'Dropout', 'check_gradient', 'numeric_gradient',
    'rel_error', 'FullyConnectedNet', 'Linear', 'Linear_ReLU', 'ReLU', 'softmax_loss',
    'BatchNorm', 'GroupNorm', 'LayerNorm', 'SpatialBatchNorm', 'Solver',
]
