"""Typical mistakes in scratchnn/init.py."""
from mistakes import Case, Def

S = ['test_init.py']

CASES = {
    'xavier_normal_uses_fan_in_only': Case(
        {'init': [("std = gain * (2.0 / (fan_in + fan_out)) ** 0.5", "std = gain * (1.0 / fan_in) ** 0.5")]},
        S, loses=['xavier_normal']),
    'xavier_uniform_on_default_device': Case(
        {'init': [Def('xavier_uniform', '''
def xavier_uniform(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    fan_in, fan_out = fans(Din, Dout, K)
    a = gain * (6.0 / (fan_in + fan_out)) ** 0.5
    return (2 * torch.rand(weight_shape(Din, Dout, K), dtype=dtype) - 1) * a
''')]},
        S, loses=['xavier_uniform']),
    'xavier_uniform_ignores_gain': Case(
        {'init': [("a = gain * (6.0 / (fan_in + fan_out)) ** 0.5", "a = (6.0 / (fan_in + fan_out)) ** 0.5")]},
        S, loses=['xavier_uniform']),
    'kaiming_normal_ignores_K': Case(
        {'init': [Def('kaiming_normal', '''
def kaiming_normal(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    g = 2.0 if relu else 1.0
    return (g / Din) ** 0.5 * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
''')]},
        S, loses=['kaiming_normal']),
    'kaiming_uniform_bound_is_normal_std': Case(
        {'init': [("a = (3.0 * g / fan_in) ** 0.5", "a = (g / fan_in) ** 0.5")]},
        S, loses=['kaiming_uniform']),
    'kaiming_uniform_draws_normal': Case(
        {'init': [Def('kaiming_uniform', '''
def kaiming_uniform(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    return (g / fan_in) ** 0.5 * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
''')]},
        S, loses=['kaiming_uniform']),
}
