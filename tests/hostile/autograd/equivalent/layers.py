

def _missing_linear_backward(dout, cache):
    raise NotImplementedError("stands for a backward pass left to autograd")


Linear.backward = staticmethod(_missing_linear_backward)


def _missing_relu_backward(dout, cache):
    raise NotImplementedError("stands for a backward pass left to autograd")


ReLU.backward = staticmethod(_missing_relu_backward)
