

def xavier_uniform(*args, **kwargs):
    raise NotImplementedError("stands for a function that hoards RAM")


def kaiming_uniform(*args, **kwargs):
    raise NotImplementedError("stands for a function that starts processes")
