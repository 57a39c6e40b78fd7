"""Correct update rules computed in another algebraic order (same state keys)."""
from mistakes import Case

S = ['test_optim.py']

CASES = {
    'adam_step_size_form_with_eps_hat': Case({'optim': [
        ("    m_hat = m / (1 - beta1 ** t)\n    v_hat = v / (1 - beta2 ** t)\n"
         "    next_w = w - config['learning_rate'] * m_hat / (v_hat.sqrt() + config['epsilon'])",
         "    step_size = config['learning_rate'] * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)\n"
         "    eps_hat = config['epsilon'] * (1 - beta2 ** t) ** 0.5\n"
         "    next_w = w - step_size * m / (v.sqrt() + eps_hat)")]}, S),
    'momentum_rules_rewritten': Case({'optim': [
        ("v = config['momentum'] * v - config['learning_rate'] * g\n    next_w = w + v",
         "v = v.mul(config['momentum']).sub(g, alpha=config['learning_rate'])\n    next_w = w.add(v)"),
        ("next_w = w - mu * v + (1 + mu) * v_next", "next_w = w + mu * v_next - config['learning_rate'] * g")]}, S),
    'adaptive_rules_rewritten': Case({'optim': [
        ("cache = d * config.get('cache', torch.zeros_like(w)) + (1 - d) * g * g",
         "cache = torch.addcmul(d * config.get('cache', torch.zeros_like(w)), g, g, value=1 - d)"),
        ("+ g * g\n    next_w = w - config['learning_rate'] * g / (cache.sqrt() + config['epsilon'])",
         "+ g.square()\n    next_w = w - config['learning_rate'] * g * (cache.sqrt() + config['epsilon']).reciprocal()"),
        ("decayed = w * (1 - config['learning_rate'] * config['weight_decay'])\n"
         "    next_w = _adam_step(decayed, dw, config)",
         "next_w = _adam_step(w, dw, config) - config['learning_rate'] * config['weight_decay'] * w")]}, S),
}
