

def _missing(*args):
    raise NotImplementedError("stands for a function returning an inflated value")


Dropout.forward = staticmethod(_missing)
Dropout.backward = staticmethod(_missing)
