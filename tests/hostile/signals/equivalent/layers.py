

def _missing_relu_forward(x):
    raise NotImplementedError("stands for a function that signals other processes")


ReLU.forward = staticmethod(_missing_relu_forward)
