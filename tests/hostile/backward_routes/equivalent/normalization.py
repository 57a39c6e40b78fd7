

def _missing_backward(dout, cache):
    raise NotImplementedError("stands for a backward pass left to PyTorch")


BatchNorm.backward = staticmethod(_missing_backward)
BatchNorm.backward_alt = staticmethod(_missing_backward)
LayerNorm.backward = staticmethod(_missing_backward)
GroupNorm.backward = staticmethod(_missing_backward)
