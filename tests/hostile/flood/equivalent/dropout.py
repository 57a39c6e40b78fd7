

def _missing_forward(x, dropout_param):
    raise NotImplementedError("stands for a function that prints gigabytes")


Dropout.forward = staticmethod(_missing_forward)
