"""Typical mistakes in scratchnn/optim.py."""
from mistakes import Case

S = ['test_optim.py']

CASES = {
    'sgd_ignores_weight_decay': Case(
        {'optim': [("    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g",
                    "    g = dw\n    next_w = w - config['learning_rate'] * g")]},
        S, loses=['sgd']),
    'sgd_momentum_sign_error': Case(
        {'optim': [("v = config['momentum'] * v - config['learning_rate'] * g",
                    "v = config['momentum'] * v + config['learning_rate'] * g"),
                   ("next_w = w + v\n", "next_w = w - v\n")]},
        S, loses=['sgd_momentum']),
    'sgd_momentum_updates_w_in_place': Case(
        {'optim': [("next_w = w + v\n", "next_w = w.add_(v)\n")]},
        S, loses=['sgd_momentum']),
    'nesterov_as_plain_momentum': Case(
        {'optim': [("next_w = w - mu * v + (1 + mu) * v_next", "next_w = w + v_next")]},
        S, loses=['nesterov']),
    'adagrad_epsilon_inside_sqrt': Case(
        {'optim': [("+ g * g\n    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])",
                    "+ g * g\n    next_w = w - config['learning_rate'] * g / (cache + config['epsilon']).sqrt()")]},
        S, loses=['adagrad']),
    'adagrad_state_on_default_device': Case(
        {'optim': [("cache = config.get('cache', torch.zeros_like(w)) + g * g",
                    "cache = config.get('cache', torch.zeros(w.shape, dtype=w.dtype)) + g * g")]},
        S, loses=['adagrad']),
    'rmsprop_without_one_minus_decay': Case(
        {'optim': [("+ (1 - d) * g * g", "+ g * g")]},
        S, loses=['rmsprop']),
    'adadelta_updates_delta_before_the_step': Case(
        {'optim': [("    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n"
                    "    delta = rho * delta + (1 - rho) * u * u\n",
                    "    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n"
                    "    delta = rho * delta + (1 - rho) * u * u\n"
                    "    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g\n")]},
        S, loses=['adadelta']),
    'adam_without_bias_correction': Case(
        {'optim': [("m_hat = m / (1 - beta1 ** t)", "m_hat = m"), ("v_hat = v / (1 - beta2 ** t)", "v_hat = v")]},
        S, loses=['adam', 'adamw']),
    'adam_t_incremented_after_use': Case(
        {'optim': [("t = config.get('t', 0) + 1", "t = config.get('t', 1)"),
                   ("config['m'], config['v'], config['t'] = m, v, t",
                    "config['m'], config['v'], config['t'] = m, v, t + 1")]},
        S, loses=['adam', 'adamw']),
    'adam_ignores_weight_decay': Case(
        {'optim': [("    g = dw + config['weight_decay'] * w\n    next_w = _adam_step(w, g, config)",
                    "    next_w = _adam_step(w, dw, config)")]},
        S, loses=['adam']),
    'adamw_with_coupled_decay': Case(
        {'optim': [("decayed = w * (1 - config['learning_rate'] * config['weight_decay'])\n"
                    "    next_w = _adam_step(decayed, dw, config)",
                    "next_w = _adam_step(w, dw + config['weight_decay'] * w, config)")]},
        S, loses=['adamw']),
}
