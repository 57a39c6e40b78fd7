

def _missing_relu_forward(x):
    raise NotImplementedError("stands for a function that ends its process")


ReLU.forward = staticmethod(_missing_relu_forward)
