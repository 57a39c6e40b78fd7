"""Typical mistakes in scratchnn/optim.py."""
from mistakes import Case, Def

CASES = {
    'sgd_ignores_weight_decay': Case(
        {'optim': [("    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g",
                    "    g = dw\n    next_w = w - config['learning_rate'] * g")]},
        loses=['sgd']),
    'sgd_momentum_sign_error': Case(
        {'optim': [("v = config['momentum'] * v - config['learning_rate'] * g",
                    "v = config['momentum'] * v + config['learning_rate'] * g"),
                   ("next_w = w + v\n", "next_w = w - v\n")]},
        loses=['sgd_momentum']),
    'sgd_momentum_keeps_torch_velocity': Case(
        # v = mu v + g; w - lr v: torch.optim's buffer, the same only while lr stays put.
        {'optim': [("v = config['momentum'] * v - config['learning_rate'] * g\n    next_w = w + v\n",
                    "v = config['momentum'] * v + g\n    next_w = w - config['learning_rate'] * v\n")]},
        loses=['sgd_momentum']),
    'sgd_momentum_adds_weight_decay_to_dw_in_place': Case(
        {'optim': [Def('sgd_momentum', '''
def sgd_momentum(w, dw, config=None):
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9, weight_decay=0.0)
    g = dw.add_(config['weight_decay'] * w)
    v = config['momentum'] * config.get('velocity', torch.zeros_like(w)) - config['learning_rate'] * g
    config['velocity'] = v
    return w + v, config
''')]},
        loses=['sgd_momentum']),
    'sgd_momentum_zero_momentum_taken_for_absent': Case(
        {'optim': [("v = config['momentum'] * v - config['learning_rate'] * g\n    next_w = w + v",
                    "v = (config['momentum'] or 0.9) * v - config['learning_rate'] * g\n    next_w = w + v")]},
        loses=['sgd_momentum']),
    'sgd_momentum_velocity_in_a_module_dict_by_shape': Case(
        # State kept beside the config: two weights of one shape share a velocity.
        {'optim': [Def('sgd_momentum', '''
def sgd_momentum(w, dw, config=None, _velocities={}):
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9, weight_decay=0.0)
    g = dw + config['weight_decay'] * w
    v = _velocities.get(tuple(w.shape), torch.zeros_like(w))
    v = config['momentum'] * v - config['learning_rate'] * g
    _velocities[tuple(w.shape)] = v
    config['velocity'] = v
    return w + v, config
''')]},
        loses=['sgd_momentum']),
    'rmsprop_shares_one_defaults_dict': Case(
        # config=None hands out one module-level dict: a second run starts with a stale cache.
        {'optim': [("    config = _with_defaults(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8,\n"
                    "                            weight_decay=0.0)\n",
                    "    if config is None:\n        config = _RMSPROP_DEFAULTS\n"
                    "    config = _with_defaults(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8,\n"
                    "                            weight_decay=0.0)\n"),
                   ("def rmsprop(w, dw, config=None):", "_RMSPROP_DEFAULTS = {}\n\n\ndef rmsprop(w, dw, config=None):")]},
        loses=['rmsprop']),
    'adam_shares_one_defaults_dict': Case(
        # The same in adam: adamw fills a config of its own, so it keeps its points.
        {'optim': [("    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,\n"
                    "                            weight_decay=0.0)\n",
                    "    config = _ADAM_DEFAULTS if config is None else config\n"
                    "    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,\n"
                    "                            weight_decay=0.0)\n"),
                   ("def adam(w, dw, config=None):", "_ADAM_DEFAULTS = {}\n\n\ndef adam(w, dw, config=None):")]},
        loses=['adam']),
    'nesterov_as_plain_momentum': Case(
        {'optim': [("next_w = w - mu * v + (1 + mu) * v_next", "next_w = w + v_next")]},
        loses=['nesterov']),
    'adagrad_epsilon_inside_sqrt': Case(
        {'optim': [("+ g * g\n    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])",
                    "+ g * g\n    next_w = w - config['learning_rate'] * g / (cache + config['epsilon']).sqrt()")]},
        loses=['adagrad']),
    'adagrad_state_on_default_device': Case(
        {'optim': [("cache = config.get('cache', torch.zeros_like(w)) + g * g",
                    "cache = config.get('cache', torch.zeros(w.shape, dtype=w.dtype)) + g * g")]},
        loses=['adagrad']),
    'rmsprop_without_one_minus_decay': Case(
        {'optim': [("+ (1 - d) * g * g", "+ g * g")]},
        loses=['rmsprop']),
    'rmsprop_state_only_for_matrices': Case(
        # A cache of shape (rows, cols): right for 2-D weights, wrong for biases and kernels.
        {'optim': [("cache = d * config.get('cache', torch.zeros_like(w)) + (1 - d) * g * g",
                    "cache = d * config.get('cache', w.new_zeros(w.shape[0], w.shape[-1])) + (1 - d) * g * g")]},
        loses=['rmsprop']),
    'adadelta_updates_delta_before_the_step': Case(
        {'optim': [("    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n"
                    "    delta = rho * delta + (1 - rho) * u * u\n",
                    "    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n"
                    "    delta = rho * delta + (1 - rho) * u * u\n"
                    "    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n")]},
        loses=['adadelta']),
    'adam_without_bias_correction': Case(
        {'optim': [("m_hat = m / (1 - beta1 ** t)", "m_hat = m"), ("v_hat = v / (1 - beta2 ** t)", "v_hat = v")]},
        loses=['adam']),   # adamw is the decay and then this adam: it keeps its points
    'adam_t_incremented_after_use': Case(
        {'optim': [("t = config.get('t', 0) + 1", "t = config.get('t', 1)"),
                   ("config['m'], config['v'], config['t'] = m, v, t",
                    "config['m'], config['v'], config['t'] = m, v, t + 1")]},
        loses=['adam']),
    'adam_ignores_weight_decay': Case(
        {'optim': [("    g = dw + config['weight_decay'] * w\n    next_w = _adam_step(w, g, config)",
                    "    next_w = _adam_step(w, dw, config)")]},
        loses=['adam']),
    'adam_keeps_its_first_learning_rate': Case(
        {'optim': [("    next_w = w - config['learning_rate'] * m_hat",
                    "    config.setdefault('lr0', config['learning_rate'])\n"
                    "    next_w = w - config['lr0'] * m_hat")]},
        loses=['adam']),
    'adam_moment_on_default_device': Case(
        # adamw takes this step too and fails with it off the CPU: adam's code, charged to adam only.
        {'optim': [("m = beta1 * config.get('m', torch.zeros_like(w)) + (1 - beta1) * g",
                    "m = beta1 * config.get('m', torch.zeros(w.shape, dtype=w.dtype)) + (1 - beta1) * g")]},
        loses=['adam']),
    'adamw_zero_weight_decay_taken_for_absent': Case(
        {'optim': [("decayed = w * (1 - config['learning_rate'] * config['weight_decay'])",
                    "decayed = w * (1 - config['learning_rate'] * (config['weight_decay'] or 1e-2))")]},
        loses=['adamw']),
    'adamw_with_coupled_decay': Case(
        {'optim': [("decayed = w * (1 - config['learning_rate'] * config['weight_decay'])\n"
                    "    next_w = _adam_step(decayed, dw, config)",
                    "next_w = _adam_step(w, dw + config['weight_decay'] * w, config)")]},
        loses=['adamw']),
}
