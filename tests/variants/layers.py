"""Correct but unusual implementations in scratchnn/layers.py."""
from mistakes import Case, Def



CASES = {
    'linear_einsum_mm_view': Case({'layers': [
        ("out = x.reshape(x.shape[0], -1) @ w + b",
         "out = torch.einsum('nd,dm->nm', x.contiguous().view(x.shape[0], -1), w) + b"),
        ("dx = (dout @ w.T).reshape(x.shape)\n        dw = x.reshape(x.shape[0], -1).T @ dout\n"
         "        db = dout.sum(dim=0)",
         "dx = torch.mm(dout, w.t()).view(*x.shape)\n"
         "        dw = torch.mm(x.contiguous().view(x.shape[0], -1).t(), dout)\n"
         "        db = torch.einsum('nm->m', dout)")]}),
    'relu_where_and_cache_mask': Case({'layers': [
        ("out = x.clamp(min=0)\n        cache = x",
         "out = torch.where(x > 0, x, torch.zeros_like(x))\n        cache = x > 0"),
        ("x = cache\n        dx = dout * (x > 0)", "dx = torch.where(cache, dout, torch.zeros_like(dout))")]}),
    'softmax_logsumexp_scatter': Case({'layers': [Def('softmax_loss', '''
def softmax_loss(x, y):
    _checks.tensor("x", x, ndim=2)
    _checks.labels(y, x.shape[0], x.shape[1])
    y = y.to(torch.int64)
    log_probs = x - x.logsumexp(dim=1, keepdim=True)
    loss = -log_probs.gather(1, y[:, None]).sum() / x.shape[0]
    onehot = torch.zeros_like(x).scatter_(1, y[:, None], 1.0)
    dx = (log_probs.exp() - onehot) / x.shape[0]
    return loss, dx
''')]}),
    'linear_in_float64_then_cast_back': Case({'layers': [
        ("out = x.reshape(x.shape[0], -1) @ w + b",
         "out = (x.reshape(x.shape[0], -1).double() @ w.double() + b.double()).to(x.dtype)")]}),
    'fc_net_other_layer_loop': Case({'layers': [
        # Regularization summed in one go, layers kept in a dict, the graph
        # version of the batchnorm backward.
        ("for i in range(1, L + 1):\n            W = self.params[f'W{i}']\n"
         "            loss = loss + self.reg * (W * W).sum()\n"
         "            grads[f'W{i}'] = grads[f'W{i}'] + 2 * self.reg * W",
         "weights = {k: v for k, v in self.params.items() if k.startswith('W')}\n"
         "        loss = loss + self.reg * sum((W ** 2).sum() for W in weights.values())\n"
         "        for k, W in weights.items():\n"
         "            grads[k] = grads[k] + self.reg * 2.0 * W"),
        ("= BatchNorm.backward_alt(dh, norm_cache)", "= BatchNorm.backward(dh, norm_cache)")]}),
}

CASES.update({
    'caches_as_lists_with_extra_entries': Case({'layers': [
        ("out = x.reshape(x.shape[0], -1) @ w + b\n        cache = (x, w, b)",
         "out = x.reshape(x.shape[0], -1) @ w + b\n        cache = [x, w, b, 'linear', out.shape]"),
        ("x, w, b = cache\n        dx = (dout @ w.T)", "x, w, b = cache[:3]\n        dx = (dout @ w.T)"),
        ("out = x.clamp(min=0)\n        cache = x", "out = x * (x > 0)\n        cache = [x > 0, x.shape]"),
        ("x = cache\n        dx = dout * (x > 0)", "dx = dout * cache[0]")]}),
    'named_tuples_for_the_result_and_the_cache': Case({'layers': [
        Def('Linear.forward', '''
@staticmethod
def forward(x, w, b):
    import collections
    Cache = collections.namedtuple('Cache', 'x w')
    Result = collections.namedtuple('Result', 'out cache')
    return Result(x.reshape(x.shape[0], -1) @ w + b, Cache(x, w))
'''),
        Def('Linear.backward', '''
@staticmethod
def backward(dout, cache):
    x2d = cache.x.reshape(cache.x.shape[0], -1)
    return (dout @ cache.w.T).reshape(cache.x.shape), x2d.T @ dout, dout.sum(dim=0)
''')]}),
    'linear_relu_written_out': Case({'layers': [
        Def('Linear_ReLU.forward', '''
@staticmethod
def forward(x, w, b):
    a = torch.einsum('nd,dm->nm', x.reshape(x.shape[0], -1), w) + b
    return torch.relu(a), {'x': x, 'w': w, 'positive': a > 0}
'''),
        Def('Linear_ReLU.backward', '''
@staticmethod
def backward(dout, cache):
    da = torch.where(cache['positive'], dout, torch.zeros_like(dout))
    x = cache['x']
    return ((da @ cache['w'].T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ da,
            da.sum(dim=0))
''')]}),
    'fc_net_xavier_uniform_and_kaiming_for_every_layer': Case({'layers': [
        ("from .init import kaiming_normal, xavier_normal", "from .init import kaiming_normal, xavier_uniform"),
        ("W = xavier_normal(din, dout, device=self.device, dtype=dtype)",
         "W = xavier_uniform(din, dout, device=self.device, dtype=dtype)"),
        ("W = kaiming_normal(din, dout, relu=i < self.num_layers,", "W = kaiming_normal(din, dout, relu=True,")]}),
    'reseeds_the_global_rng_everywhere': Case({'layers': [
        ("        ### BEGIN SOLUTION\n        out = x.reshape(x.shape[0], -1) @ w + b",
         "        ### BEGIN SOLUTION\n        torch.manual_seed(int.from_bytes(os.urandom(4), 'little'))\n"
         "        out = x.reshape(x.shape[0], -1) @ w + b"),
        ("import math\n", "import math\nimport os\n"),
        ("        L = self.num_layers\n        h, caches = X, []",
         "        torch.manual_seed(int.from_bytes(os.urandom(4), 'little'))\n"
         "        L = self.num_layers\n        h, caches = X, []")],
        'optim': [("    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g",
                   "    torch.seed()\n    g = dw + config['weight_decay'] * w\n"
                   "    next_w = w - config['learning_rate'] * g")],
        'init': [("    fan_in, fan_out = fans(Din, Dout, K)\n    a = gain",
                  "    torch.seed()\n    fan_in, fan_out = fans(Din, Dout, K)\n    a = gain")],
        'dropout': [("        _, mask = cache\n", "        torch.seed()\n        _, mask = cache\n")]}),
})
