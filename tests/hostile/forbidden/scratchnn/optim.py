
_honest_rmsprop = rmsprop


def rmsprop(w, dw, config=None):
    """Breaks the rule: reaches torch.optim (dynamically, to dodge a plain grep)."""
    getattr(torch, 'optim')
    return _honest_rmsprop(w, dw, config)
