

def sgd_momentum(w, dw, config=None):
    """Hostile: never returns."""
    while True:
        pass
