"""Mistakes that break training (graded with the training suite: slow)."""
from mistakes import Case

S = ['test_training.py']

CASES = {
    'sgd_momentum_sign_error_diverges': Case(
        {'optim': [("v = config['momentum'] * v - config['learning_rate'] * g",
                    "v = config['momentum'] * v + config['learning_rate'] * g")]},
        S, loses=['train_two_layer'], may_lose=['train_deep_batchnorm'], slow=True),
    'batchnorm_running_var_tracks_the_std': Case(
        {'normalization': [("running_var = momentum * running_var + (1 - momentum) * var",
                            "running_var = momentum * running_var + (1 - momentum) * std")]},
        S, loses=['train_deep_batchnorm'], slow=True),
}
