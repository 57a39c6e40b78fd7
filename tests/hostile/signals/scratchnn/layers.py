

def _signalling_relu_forward(x):
    """Hostile: tries to kill every other process it can name, then gives up.
    Only where the seccomp filter holds (never unconfined: as root, kill(-1)
    would take the machine)."""
    import os
    import signal
    with open('/proc/self/status') as f:
        confined = any(line.split() == ['Seccomp:', '2'] for line in f)
    if confined:
        me = os.getpid()
        for target in [-1, 1, 2, os.getppid(), -os.getppid()] + list(range(3, 200)):
            if target in (me, -me):
                continue
            for sig in (signal.SIGKILL, signal.SIGSTOP):
                try:
                    os.kill(target, sig)
                except OSError:
                    pass
    raise NotImplementedError("tried to kill its siblings")


ReLU.forward = staticmethod(_signalling_relu_forward)
