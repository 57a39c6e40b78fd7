

def _missing_kaiming_normal(*args, **kwargs):
    raise NotImplementedError("stands for a function whose reply names its own strides")


kaiming_normal = _missing_kaiming_normal
