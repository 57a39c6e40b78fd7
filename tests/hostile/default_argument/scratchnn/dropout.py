

def _forward(x, dropout_param, _functional=torch.nn.functional):
    """Hostile: torch.nn.functional bound through a default argument."""
    p, mode = dropout_param['p'], dropout_param['mode']
    if mode == 'train':
        out = _functional.dropout(x, p=p, training=True)
        return out, (dropout_param, (out != 0).to(x.dtype) / (1 - p))
    return x, (dropout_param, None)


Dropout.forward = staticmethod(_forward)
