"""Weight initializers: Xavier (Glorot) and Kaiming (He).

Every initializer returns a fresh tensor of shape (Din, Dout) for a linear
layer (K is None) or (Dout, Din, K, K) for a convolution with K x K kernels.
"""
import torch


def weight_shape(Din, Dout, K=None):
    """(Din, Dout) for a linear layer, (Dout, Din, K, K) for a convolution."""
    return (Din, Dout) if K is None else (Dout, Din, K, K)


def fans(Din, Dout, K=None):
    """(fan_in, fan_out): the inputs feeding one output unit, and the outputs
    one input unit feeds. A K x K convolution sees K*K positions per channel."""
    receptive_field = 1 if K is None else K * K
    return Din * receptive_field, Dout * receptive_field


def xavier_uniform(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    ### BEGIN SOLUTION
    fan_in, fan_out = fans(Din, Dout, K)
    a = gain * (6.0 / (fan_in + fan_out)) ** 0.5
    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=dtype)
    w = (2 * u - 1) * a
    ### END SOLUTION
    return w


def xavier_normal(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    ### BEGIN SOLUTION
    fan_in, fan_out = fans(Din, Dout, K)
    std = gain * (2.0 / (fan_in + fan_out)) ** 0.5
    w = std * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
    ### END SOLUTION
    return w


def kaiming_uniform(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    """U(-a, a) with a = sqrt(3 * g / fan_in); g = 2 before a ReLU, else 1.

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    ### BEGIN SOLUTION
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    a = (3.0 * g / fan_in) ** 0.5
    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=dtype)
    w = (2 * u - 1) * a
    ### END SOLUTION
    return w


def kaiming_normal(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    """N(0, g / fan_in); g = 2 before a ReLU, else 1.

    Returns a tensor of shape weight_shape(Din, Dout, K).
    """
    ### BEGIN SOLUTION
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    w = (g / fan_in) ** 0.5 * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
    ### END SOLUTION
    return w


# The name EECS 498 uses for the same initializer.
kaiming_initializer = kaiming_normal
