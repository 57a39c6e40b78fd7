"""Typical mistakes in scratchnn/layers.py."""
from mistakes import Case, Def

TRAINING = ['train_two_layer', 'train_deep_batchnorm']

CASES = {
    # ---- Linear
    'linear_forward_view_on_a_non_contiguous_input': Case(
        # The notebooks' conv net hands Linear a permuted (non-contiguous) tensor.
        {'layers': [("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.view(x.shape[0], -1) @ w + b")]},
        loses=['linear_forward'],
        # The forward pass raises there, so neither its backward nor Linear_ReLU nor
        # the net can run on that input: each names linear_forward.
        cascades=['linear_backward', 'linear_relu', 'fc_net']),
    'linear_backward_dx_not_reshaped': Case(
        {'layers': [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")]},
        loses=['linear_backward']),   # Linear_ReLU made of it keeps its points
    'linear_backward_db_not_summed': Case(
        {'layers': [("db = dout.sum(dim=0)", "db = dout.mean(dim=0)")]},
        loses=['linear_backward'], cascades=TRAINING),
    'linear_backward_view_on_the_cached_input': Case(
        {'layers': [("dw = x.reshape(x.shape[0], -1).T @ dout", "dw = x.view(x.shape[0], -1).T @ dout")]},
        # It raises inside Linear_ReLU.backward and the net's backward pass, naming itself.
        loses=['linear_backward'], cascades=['linear_relu', 'fc_net']),
    'linear_backward_scales_dx_slightly': Case(
        {'layers': [("dx = (dout @ w.T).reshape(x.shape)", "dx = (dout @ w.T).reshape(x.shape) * 1.001")]},
        loses=['linear_backward'], cascades=TRAINING),
    'linear_stateful_forward_fools_the_numeric_check': Case(
        # A wrong forward (off by 1e-3), a wrong dx, and a forward that replays its
        # answer at the last new input plus the wrong slope for inputs near it:
        # exact for its own forward in a fixed order of calls, caught by repeated
        # calls in an unpredictable order.
        {'layers': [Def('Linear.forward', '''
@staticmethod
def forward(x, w, b, state={}):
    last = state.get('x')
    exact = x.reshape(x.shape[0], -1) @ w + b + 1e-3
    if last is not None and last.shape == x.shape and last.device == x.device \\
            and last.dtype == x.dtype and x.device.type == 'cpu' \\
            and (x - last).abs().max() < 1e-3 and torch.equal(w, state['w']) \\
            and torch.equal(b, state['b']):
        out = state['out'] + ((x - last).reshape(x.shape[0], -1) * 2) @ w
    else:
        state.update(x=x.clone(), w=w.clone(), b=b.clone(), out=exact)
        out = exact
    return out, (x, w, b)
'''), ("dx = (dout @ w.T).reshape(x.shape)", "dx = 2 * (dout @ w.T).reshape(x.shape)")]},
        loses=['linear_forward', 'linear_backward'], cascades=['linear_relu', 'fc_net'] + TRAINING),
    # ---- ReLU
    'relu_forward_keeps_negatives_scaled': Case(
        {'layers': [("out = x.clamp(min=0)", "out = torch.where(x > 0, x, 0.01 * x)")]},
        loses=['relu_forward'], cascades=TRAINING),
    'relu_forward_modifies_x_in_place': Case(
        {'layers': [("out = x.clamp(min=0)\n        cache = x", "cache = x > 0\n        out = x.clamp_(min=0)"),
                    ("x = cache\n        dx = dout * (x > 0)", "dx = dout * cache")]},
        loses=['relu_forward']),
    'relu_backward_masks_by_dout': Case(
        {'layers': [("dx = dout * (x > 0)", "dx = dout * (dout > 0)")]},
        loses=['relu_backward'], cascades=TRAINING),
    'relu_backward_passes_the_gradient_at_zero': Case(
        {'layers': [("dx = dout * (x > 0)", "dx = dout * (x >= 0)")]},
        loses=['relu_backward']),
    'relu_backward_modifies_dout_in_place': Case(
        {'layers': [("dx = dout * (x > 0)", "dout[x <= 0] = 0\n        dx = dout")]},
        # Linear_ReLU's backward hands it dout, and its own code is right: not charged.
        loses=['relu_backward']),
    'linear_backward_nan_for_a_wrong_forward': Case(
        # A wrong forward and a backward full of NaN: max(error, nan) once took
        # NaN for an exact match with the forward's own numeric gradient.
        {'layers': [("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w + b + 1e-3"),
                    ("dx = (dout @ w.T).reshape(x.shape)", "dx = (dout @ w.T).reshape(x.shape) * float('nan')")]},
        loses=['linear_forward', 'linear_backward'], cascades=TRAINING),
    # ---- Linear_ReLU
    'linear_relu_backward_skips_the_relu': Case(
        {'layers': [("da = ReLU.backward(dout, relu_cache)", "da = dout")]},
        loses=['linear_relu']),
    # ---- softmax_loss
    'softmax_without_max_shift': Case(
        {'layers': [("shifted = x - x.max(dim=1, keepdim=True).values", "shifted = x")]},
        loses=['softmax_loss']),
    'softmax_loss_summed_not_mean': Case(
        {'layers': [("loss = -log_probs[rows, y].mean()", "loss = -log_probs[rows, y].sum()")]},
        loses=['softmax_loss'], cascades=TRAINING),
    'softmax_gradient_not_divided_by_N': Case(
        {'layers': [("    dx = dx / N\n", "")]},
        loses=['softmax_loss'], cascades=TRAINING),
    'softmax_shifts_x_in_place': Case(
        {'layers': [("shifted = x - x.max(dim=1, keepdim=True).values",
                     "shifted = x.sub_(x.max(dim=1, keepdim=True).values)")]},
        loses=['softmax_loss']),
    # ---- FullyConnectedNet
    'fc_net_reg_gradient_missing_factor_2': Case(
        {'layers': [("+ 2 * self.reg * W", "+ self.reg * W")]},
        loses=['fc_net'], cascades=['train_two_layer']),
    'fc_net_regularizes_biases': Case(
        {'layers': [("loss = loss + self.reg * (W * W).sum()",
                     "bias = self.params[f'b{i}']\n"
                     "            loss = loss + self.reg * ((W * W).sum() + (bias * bias).sum())\n"
                     "            grads[f'b{i}'] = grads[f'b{i}'] + 2 * self.reg * bias")]},
        loses=['fc_net'], cascades=['train_two_layer']),
    'fc_net_dropout_on_the_scores': Case(
        {'layers': [("            if self.use_dropout:\n                h, drop_cache = Dropout.forward(h, self.dropout_param)\n", ""),
                    ("        scores, last_cache = Linear.forward(h, self.params[f'W{L}'], self.params[f'b{L}'])\n",
                     "        scores, last_cache = Linear.forward(h, self.params[f'W{L}'], self.params[f'b{L}'])\n"
                     "        score_drop = None\n"
                     "        if self.use_dropout:\n"
                     "            scores, score_drop = Dropout.forward(scores, self.dropout_param)\n"),
                    ("        loss, dscores = softmax_loss(scores, y)\n",
                     "        loss, dscores = softmax_loss(scores, y)\n"
                     "        if score_drop is not None:\n"
                     "            dscores = Dropout.backward(dscores, score_drop)\n"),
                    ("            if self.use_dropout:\n                dh = Dropout.backward(dh, drop_cache)\n", "")]},
        loses=['fc_net']),
    'fc_net_dropout_before_the_normalization': Case(
        {'layers': [("            norm_cache = None\n",
                     "            norm_cache = None\n            drop_cache = None\n"
                     "            if self.use_dropout:\n"
                     "                h, drop_cache = Dropout.forward(h, self.dropout_param)\n"),
                    ("            drop_cache = None\n            if self.use_dropout:\n"
                     "                h, drop_cache = Dropout.forward(h, self.dropout_param)\n"
                     "            caches.append", "            caches.append"),
                    ("            if self.use_dropout:\n                dh = Dropout.backward(dh, drop_cache)\n"
                     "            dh = ReLU.backward(dh, relu_cache)\n",
                     "            dh = ReLU.backward(dh, relu_cache)\n"),
                    ("            dh, grads[f'W{i}'], grads[f'b{i}'] = Linear.backward(dh, fc_cache)",
                     "            if self.use_dropout:\n                dh = Dropout.backward(dh, drop_cache)\n"
                     "            dh, grads[f'W{i}'], grads[f'b{i}'] = Linear.backward(dh, fc_cache)")]},
        loses=['fc_net']),
    'fc_net_dropout_in_test_mode': Case(
        {'layers': [("h, drop_cache = Dropout.forward(h, self.dropout_param)",
                     "h, drop_cache = Dropout.forward(h, {**self.dropout_param, 'mode': 'train'})")]},
        loses=['fc_net']),
    'fc_net_batchnorm_batch_stats_in_test_mode': Case(
        {'layers': [("h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[i - 1])\n"
                     "            elif",
                     "h, self.params[f'gamma{i}'], self.params[f'beta{i}'],\n"
                     "                    {**self.bn_params[i - 1], 'mode': 'train'})\n"
                     "            elif")]},
        # Its running statistics never reach bn_params: the training run names fc_net.
        loses=['fc_net'], cascades=['train_deep_batchnorm']),
    'fc_net_one_bn_param_for_every_layer': Case(
        {'layers': [("h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[i - 1])\n"
                     "            elif",
                     "h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[0])\n"
                     "            elif")]},
        loses=['fc_net'], cascades=['train_deep_batchnorm']),
    'fc_net_seed_zero_taken_for_absent': Case(
        # A falsy value taken for an absent one: seed=0 never reaches the dropout masks.
        {'layers': [("        if seed is not None:\n            self.dropout_param['seed'] = seed\n",
                     "        if seed:\n            self.dropout_param['seed'] = seed\n")]},
        loses=['fc_net']),
    'fc_net_biases_on_default_device': Case(
        {'layers': [("self.params[f'b{i}'] = torch.zeros(dout, device=self.device, dtype=dtype)",
                     "self.params[f'b{i}'] = torch.zeros(dout, dtype=dtype)")]},
        loses=['fc_net']),
    'fc_net_xavier_branch_drops_dtype_and_device': Case(
        {'layers': [("W = xavier_normal(din, dout, device=self.device, dtype=dtype)",
                     "W = xavier_normal(din, dout)")]},
        loses=['fc_net']),
    'fc_net_kaiming_branch_uses_fan_out': Case(
        {'layers': [("W = kaiming_normal(din, dout, relu=i < self.num_layers,\n"
                     "                                   device=self.device, dtype=dtype)",
                     "W = kaiming_normal(dout, din, relu=i < self.num_layers,\n"
                     "                                   device=self.device, dtype=dtype).T")]},
        loses=['fc_net']),
    'fc_net_needs_a_hidden_layer': Case(
        {'layers': [("dims = [input_dim, *hidden_dims, num_classes]",
                     "dims = [input_dim, *hidden_dims, num_classes]\n"
                     "        first_hidden = hidden_dims[0]")]},
        loses=['fc_net']),
    'fc_net_params_modified_by_the_loss': Case(
        {'layers': [("            W = self.params[f'W{i}']\n            loss = loss + self.reg * (W * W).sum()",
                     "            W = self.params[f'W{i}']\n            W.mul_(1.0 - 1e-3)\n"
                     "            loss = loss + self.reg * (W * W).sum()")]},
        loses=['fc_net'], cascades=['train_two_layer', 'train_deep_batchnorm']),
}
