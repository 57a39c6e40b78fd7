

def _missing_sgd_momentum(w, dw, config=None):
    raise NotImplementedError("stands for a function that tries to kill or starve its parent")


sgd_momentum = _missing_sgd_momentum
