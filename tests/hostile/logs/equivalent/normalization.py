

def _missing_layernorm_forward(x, gamma, beta, ln_param):
    raise NotImplementedError("stands for a function that prints 15 MB and exits")


LayerNorm.forward = staticmethod(_missing_layernorm_forward)
