"""Correct update rules computed in another algebraic order (same state keys)."""
from mistakes import Case, Def



CASES = {
    'adam_step_size_form_with_eps_hat': Case({'optim': [
        ("    m_hat = m / (1 - beta1 ** t)\n    v_hat = v / (1 - beta2 ** t)\n"
         "    next_w = w - config['learning_rate'] * m_hat / (v_hat.sqrt() + config['epsilon'])",
         "    step_size = config['learning_rate'] * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)\n"
         "    eps_hat = config['epsilon'] * (1 - beta2 ** t) ** 0.5\n"
         "    next_w = w - step_size * m / (v.sqrt() + eps_hat)")]}),
    'momentum_rules_rewritten': Case({'optim': [
        ("v = config['momentum'] * v - config['learning_rate'] * g\n    next_w = w + v",
         "v = v.mul(config['momentum']).sub(g, alpha=config['learning_rate'])\n    next_w = w.add(v)"),
        ("next_w = w - mu * v + (1 + mu) * v_next", "next_w = w + mu * v_next - config['learning_rate'] * g")]}),
    'adaptive_rules_rewritten': Case({'optim': [
        ("cache = d * config.get('cache', torch.zeros_like(w)) + (1 - d) * g * g",
         "cache = torch.addcmul(d * config.get('cache', torch.zeros_like(w)), g, g, value=1 - d)"),
        ("+ g * g\n    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])",
         "+ g.square()\n    next_w = w - config['learning_rate'] * g * (cache.sqrt() + config['epsilon']).reciprocal()"),
        ("decayed = w * (1 - config['learning_rate'] * config['weight_decay'])\n"
         "    next_w = _adam_step(decayed, dw, config)",
         "next_w = _adam_step(w, dw, config) - config['learning_rate'] * config['weight_decay'] * w")]}),
}

CASES.update({
    'sgd_in_place': Case({'optim': [
        # The update CS231n's starter code gives, word for word.
        ("    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g",
         "    w -= config['learning_rate'] * (dw + config['weight_decay'] * w)\n    next_w = w")]}),
    'hyperparameters_read_with_config_get': Case({'optim': [
        Def('sgd_momentum', '''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    g = dw + config.get('weight_decay', 0.0) * w
    v = config.get('velocity', torch.zeros_like(w))
    v = config.get('momentum', 0.9) * v - config.get('learning_rate', 1e-2) * g
    config['velocity'] = v
    return w + v, config
'''),
        Def('adam', '''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    beta1, beta2 = config.get('beta1', 0.9), config.get('beta2', 0.999)
    t = config.get('t', 0) + 1
    g = dw + config.get('weight_decay', 0.0) * w
    m = beta1 * config.get('m', torch.zeros_like(w)) + (1 - beta1) * g
    v = beta2 * config.get('v', torch.zeros_like(w)) + (1 - beta2) * g * g
    config['m'], config['v'], config['t'] = m, v, t
    step = config.get('learning_rate', 1e-3) * (m / (1 - beta1 ** t))
    return w - step / ((v / (1 - beta2 ** t)).sqrt() + config.get('epsilon', 1e-8)), config
''')]}),
    'state_updated_in_place': Case({'optim': [
        ("    v = config.get('velocity', torch.zeros_like(w))\n"
         "    v = config['momentum'] * v - config['learning_rate'] * g\n    next_w = w + v\n",
         "    v = config.setdefault('velocity', torch.zeros_like(w))\n"
         "    v.mul_(config['momentum']).sub_(config['learning_rate'] * g)\n    next_w = w.add_(v)\n"),
        ("cache = config.get('cache', torch.zeros_like(w)) + g * g",
         "cache = config.setdefault('cache', torch.zeros_like(w)).addcmul_(g, g)")]}),
    'adamw_without_the_shared_step_and_a_fresh_config': Case({'optim': [Def('adamw', '''
def adamw(w, dw, config=None):
    config = dict(_with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                                 epsilon=1e-8, weight_decay=1e-2))
    lr, beta1, beta2 = config['learning_rate'], config['beta1'], config['beta2']
    t = config.get('t', 0) + 1
    m = beta1 * config.get('m', torch.zeros_like(w)) + (1 - beta1) * dw
    v = beta2 * config.get('v', torch.zeros_like(w)) + (1 - beta2) * dw * dw
    w = w * (1 - lr * config['weight_decay'])
    next_w = w - lr * (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + config['epsilon'])
    config.update(m=m, v=v, t=t)
    return next_w, config
''')]}),
})

CASES.update({
    'state_in_a_fresh_copy_of_the_config': Case({'optim': [
        # State kept in the config only, each step writing a new dict; hyperparameters
        # read with `is None`, so that 0 stays 0.
        Def('rmsprop', '''
def rmsprop(w, dw, config=None):
    config = dict(config) if config is not None else {}
    for key, default in (('learning_rate', 1e-2), ('decay_rate', 0.99), ('epsilon', 1e-8),
                         ('weight_decay', 0.0)):
        if config.get(key) is None:
            config[key] = default
    d = config['decay_rate']
    g = dw + config['weight_decay'] * w
    cache = d * config['cache'] if 'cache' in config else torch.zeros_like(w)
    cache = cache + (1 - d) * g * g
    config['cache'] = cache
    return w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon']), config
'''),
        Def('adamw', '''
def adamw(w, dw, config=None):
    config = {} if config is None else config
    weight_decay = config.get('weight_decay')
    config['weight_decay'] = 1e-2 if weight_decay is None else weight_decay
    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    decayed = w * (1 - config['learning_rate'] * config['weight_decay'])
    return _adam_step(decayed, dw, config), config
''')]}),
})
