"""Correct initializers drawing their numbers in other ways."""
from mistakes import Case, Def



CASES = {
    'init_empty_uniform_and_normal': Case({'init': [
        Def('xavier_uniform', '''
def xavier_uniform(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    fan_in, fan_out = fans(Din, Dout, K)
    bound = gain * (6.0 / (fan_in + fan_out)) ** 0.5
    return torch.empty(weight_shape(Din, Dout, K), device=device, dtype=dtype).uniform_(-bound, bound)
'''),
        Def('xavier_normal', '''
def xavier_normal(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    fan_in, fan_out = fans(Din, Dout, K)
    std = gain * (2.0 / (fan_in + fan_out)) ** 0.5
    return torch.empty(weight_shape(Din, Dout, K), device=device, dtype=dtype).normal_(0.0, std)
'''),
        Def('kaiming_uniform', '''
def kaiming_uniform(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    fan_in = Din * (1 if K is None else K * K)
    bound = (3.0 * (2.0 if relu else 1.0) / fan_in) ** 0.5
    w = torch.empty(weight_shape(Din, Dout, K), device=device, dtype=dtype)
    return w.uniform_(-bound, bound)
'''),
        Def('kaiming_normal', '''
def kaiming_normal(Din, Dout, K=None, relu=True, device='cpu', dtype=torch.float32):
    fan_in = Din * (1 if K is None else K * K)
    std = ((2.0 if relu else 1.0) / fan_in) ** 0.5
    return torch.normal(0.0, std, size=weight_shape(Din, Dout, K), device=device, dtype=dtype)
''')]}),
}

CASES.update({
    'drawn_in_float64_then_cast': Case({'init': [
        ("    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=dtype)\n    w = (2 * u - 1) * a\n"
         "    ### END SOLUTION\n    return w\n\n\ndef xavier_normal",
         "    u = torch.rand(weight_shape(Din, Dout, K), device=device, dtype=torch.float64)\n"
         "    w = ((2 * u - 1) * a).to(dtype)\n"
         "    ### END SOLUTION\n    return w\n\n\ndef xavier_normal")]}),
})
