"""First-order update rules.

Every rule has the signature

    next_w, config = rule(w, dw, config=None)

- w: the current weights, a tensor of any shape
- dw: the gradient of the loss with respect to w, same shape
- config: dict of hyperparameters and of the rule's state (velocity, moment
  estimates, ...). Missing hyperparameters get the rule's defaults; missing
  state starts at zeros. The same dict must be passed back at the next step.

Every rule accepts `weight_decay`, coupled L2: the rule uses
`g = dw + weight_decay * w` as its gradient. `adamw` instead decouples it.

Only the returned next_w and the state keys of the returned config are
graded: a rule may update w and its state tensors in place (as the classic
`w -= learning_rate * dw` does), and may read a hyperparameter with
`config.get(key, default)` instead of writing the default into config. dw is
never modified. (The rules below return new tensors and write the defaults.)
"""
import torch


def _with_defaults(config, **defaults):
    """The config dict with every missing hyperparameter set to its default."""
    config = {} if config is None else config
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def sgd(w, dw, config=None):
    """Vanilla SGD: w - learning_rate * g.

    config: learning_rate (1e-2), weight_decay (0.0).
    """
    config = _with_defaults(config, learning_rate=1e-2, weight_decay=0.0)
    ### BEGIN SOLUTION
    g = dw + config['weight_decay'] * w
    next_w = w - config['learning_rate'] * g
    ### END SOLUTION
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * g; w + v.

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0.0);
    state: velocity, shaped like w.
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9, weight_decay=0.0)
    ### BEGIN SOLUTION
    g = dw + config['weight_decay'] * w
    v = config.get('velocity', torch.zeros_like(w))
    v = config['momentum'] * v - config['learning_rate'] * g
    next_w = w + v
    config['velocity'] = v
    ### END SOLUTION
    return next_w, config


def nesterov(w, dw, config=None):
    """Nesterov momentum:
    v' = momentum * v - learning_rate * g; w - momentum * v + (1 + momentum) * v'.

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0.0);
    state: velocity, shaped like w.
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9, weight_decay=0.0)
    ### BEGIN SOLUTION
    mu = config['momentum']
    g = dw + config['weight_decay'] * w
    v = config.get('velocity', torch.zeros_like(w))
    v_next = mu * v - config['learning_rate'] * g
    next_w = w - mu * v + (1 + mu) * v_next
    config['velocity'] = v_next
    ### END SOLUTION
    return next_w, config


def adagrad(w, dw, config=None):
    """AdaGrad: cache += g^2; w - learning_rate * g / (sqrt(cache) + epsilon).

    config: learning_rate (1e-2), epsilon (1e-8), weight_decay (0.0);
    state: cache, shaped like w.
    """
    config = _with_defaults(config, learning_rate=1e-2, epsilon=1e-8, weight_decay=0.0)
    ### BEGIN SOLUTION
    g = dw + config['weight_decay'] * w
    cache = config.get('cache', torch.zeros_like(w)) + g * g
    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])
    config['cache'] = cache
    ### END SOLUTION
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: cache = d * cache + (1 - d) * g^2;
    w - learning_rate * g / (sqrt(cache) + epsilon), d = decay_rate.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8),
    weight_decay (0.0); state: cache, shaped like w.
    """
    config = _with_defaults(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8,
                            weight_decay=0.0)
    ### BEGIN SOLUTION
    d = config['decay_rate']
    g = dw + config['weight_decay'] * w
    cache = d * config.get('cache', torch.zeros_like(w)) + (1 - d) * g * g
    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])
    config['cache'] = cache
    ### END SOLUTION
    return next_w, config


def adadelta(w, dw, config=None):
    """AdaDelta:
    cache = rho * cache + (1 - rho) * g^2
    u = sqrt(delta + epsilon) / sqrt(cache + epsilon) * g
    delta = rho * delta + (1 - rho) * u^2
    w - learning_rate * u

    config: learning_rate (1.0), rho (0.9), epsilon (1e-6), weight_decay (0.0);
    state: cache and delta, shaped like w.
    """
    config = _with_defaults(config, learning_rate=1.0, rho=0.9, epsilon=1e-6, weight_decay=0.0)
    ### BEGIN SOLUTION
    rho, eps = config['rho'], config['epsilon']
    g = dw + config['weight_decay'] * w
    cache = rho * config.get('cache', torch.zeros_like(w)) + (1 - rho) * g * g
    delta = config.get('delta', torch.zeros_like(w))
    u = (delta + eps).sqrt() / (cache + eps).sqrt() * g
    delta = rho * delta + (1 - rho) * u * u
    next_w = w - config['learning_rate'] * u
    config['cache'], config['delta'] = cache, delta
    ### END SOLUTION
    return next_w, config


def _adam_step(w, g, config):
    """One bias-corrected Adam step on gradient g; updates m, v and t in config."""
    ### BEGIN SOLUTION
    beta1, beta2 = config['beta1'], config['beta2']
    t = config.get('t', 0) + 1
    m = beta1 * config.get('m', torch.zeros_like(w)) + (1 - beta1) * g
    v = beta2 * config.get('v', torch.zeros_like(w)) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    next_w = w - config['learning_rate'] * m_hat / (v_hat.sqrt() + config['epsilon'])
    config['m'], config['v'], config['t'] = m, v, t
    ### END SOLUTION
    return next_w


def adam(w, dw, config=None):
    """Adam with bias correction:
    t += 1; m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g^2
    w - learning_rate * m_hat / (sqrt(v_hat) + epsilon),
    m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t).

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
    weight_decay (0.0); state: m and v shaped like w, t an int starting at 0.
    """
    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                            weight_decay=0.0)
    ### BEGIN SOLUTION
    g = dw + config['weight_decay'] * w
    next_w = _adam_step(w, g, config)
    ### END SOLUTION
    return next_w, config


def adamw(w, dw, config=None):
    """AdamW, Adam with decoupled weight decay: w * (1 - learning_rate * weight_decay),
    then the Adam step on dw.

    config: as adam, with weight_decay (1e-2); state: m, v, t.
    """
    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                            weight_decay=1e-2)
    ### BEGIN SOLUTION
    decayed = w * (1 - config['learning_rate'] * config['weight_decay'])
    next_w = _adam_step(decayed, dw, config)
    ### END SOLUTION
    return next_w, config
