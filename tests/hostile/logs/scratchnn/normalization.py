

def _logging_layernorm_forward(x, gamma, beta, ln_param):
    """Hostile: prints just under the size cap of one file, then ends its
    process: each call runs in a fresh child, with a fresh log to fill, so
    that a cap per file would let it fill the grader's disk."""
    import os
    try:
        print('log ' * (15 << 18), flush=True)     # 15 MB
    except OSError:
        pass
    os._exit(0)


LayerNorm.forward = staticmethod(_logging_layernorm_forward)
