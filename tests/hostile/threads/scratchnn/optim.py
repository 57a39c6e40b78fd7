

def _grad_in_a_thread(w, dw, config=None):
    """Hostile: a new thread starts with grad mode on; autograd there."""
    import threading as _threading
    box = []

    def run():
        leaf = w.detach().clone().requires_grad_()
        (leaf * dw).sum().backward()
        box.append(leaf.grad)

    thread = _threading.Thread(target=run)
    thread.start()
    thread.join()
    return w - 1e-2 * box[0], config


sgd = _grad_in_a_thread
