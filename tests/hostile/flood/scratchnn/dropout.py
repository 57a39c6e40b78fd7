

def _flooding_forward(x, dropout_param):
    """Hostile: prints gigabytes, until the sandbox's output cap stops it."""
    line = 'spam ' * 200_000
    for _ in range(10_000):
        print(line, flush=True)
    return x, None


print('import-time chatter from dropout.py ' * 1000)
Dropout.forward = staticmethod(_flooding_forward)
