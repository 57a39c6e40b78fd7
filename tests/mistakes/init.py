"""Typical mistakes in scratchnn/init.py."""
from mistakes import Case, Def

CASES = {
    'xavier_normal_uses_fan_in_only': Case(
        {'init': [("std = gain * (2.0 / (fan_in + fan_out)) ** 0.5", "std = gain * (1.0 / fan_in) ** 0.5")]},
        loses=['xavier_normal']),
    'xavier_uniform_on_default_device': Case(
        {'init': [("a = gain * (6.0 / (fan_in + fan_out)) ** 0.5\n"
                   "    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=dtype)",
                   "a = gain * (6.0 / (fan_in + fan_out)) ** 0.5\n"
                   "    u = torch.rand(weight_shape(Din, Dout, K), dtype=dtype)")]},
        loses=['xavier_uniform']),
    'xavier_uniform_ignores_gain': Case(
        {'init': [("a = gain * (6.0 / (fan_in + fan_out)) ** 0.5", "a = (6.0 / (fan_in + fan_out)) ** 0.5")]},
        loses=['xavier_uniform']),
    'xavier_normal_linear_branch_drops_dtype_and_device': Case(
        {'init': [("    w = std * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)",
                   "    if K is None:\n        return std * torch.randn(Din, Dout)\n"
                   "    w = std * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)")]},
        # The net's 'xavier' weights come out of it on the wrong device and dtype,
        # as its own xavier_normal makes them: charged to xavier_normal only.
        loses=['xavier_normal']),
    'kaiming_normal_ignores_K': Case(
        {'init': [Def('kaiming_normal', '''
def kaiming_normal(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    g = 2.0 if relu else 1.0
    return (g / Din) ** 0.5 * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
''')]},
        loses=['kaiming_normal']),
    'kaiming_normal_ignores_relu': Case(
        {'init': [("    g = 2.0 if relu else 1.0\n    w = (g / fan_in)", "    g = 2.0\n    w = (g / fan_in)")]},
        loses=['kaiming_normal']),
    'kaiming_initializer_without_relu_on_default_device': Case(
        {'init': [("kaiming_initializer = kaiming_normal", '''def kaiming_initializer(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    if relu:
        return kaiming_normal(Din, Dout, K, relu, device, dtype)
    return (1.0 / fans(Din, Dout, K)[0]) ** 0.5 * torch.randn(weight_shape(Din, Dout, K))''')]},
        loses=['kaiming_normal']),
    'kaiming_uniform_bound_is_normal_std': Case(
        {'init': [("a = (3.0 * g / fan_in) ** 0.5", "a = (g / fan_in) ** 0.5")]},
        loses=['kaiming_uniform']),
    'kaiming_uniform_draws_normal': Case(
        {'init': [Def('kaiming_uniform', '''
def kaiming_uniform(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    return (g / fan_in) ** 0.5 * torch.randn(weight_shape(Din, Dout, K), device=device, dtype=dtype)
''')]},
        loses=['kaiming_uniform']),
    'kaiming_uniform_float64_drawn_as_float32': Case(
        {'init': [("    g = 2.0 if relu else 1.0\n    a = (3.0 * g / fan_in) ** 0.5\n"
                   "    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=dtype)",
                   "    g = 2.0 if relu else 1.0\n    a = (3.0 * g / fan_in) ** 0.5\n"
                   "    u = torch.rand(weight_shape(Din, Dout, K), device=device)")]},
        loses=['kaiming_uniform']),
}
