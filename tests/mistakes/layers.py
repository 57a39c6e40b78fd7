"""Typical mistakes in scratchnn/layers.py."""
from mistakes import Case

S = ['test_layers.py']
NET = ['linear_relu', 'fc_net']

CASES = {
    'linear_backward_dx_not_reshaped': Case(
        {'layers': [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")]},
        S, loses=['linear_backward'], may_lose=NET),
    'linear_backward_db_not_summed': Case(
        {'layers': [("db = dout.sum(dim=0)", "db = dout.mean(dim=0)")]},
        S, loses=['linear_backward'], may_lose=NET),
    'relu_backward_masks_by_dout': Case(
        {'layers': [("dx = dout * (x > 0)", "dx = dout * (dout > 0)")]},
        S, loses=['relu_backward'], may_lose=NET),
    'relu_forward_keeps_negatives_scaled': Case(
        {'layers': [("out = x.clamp(min=0)", "out = torch.where(x > 0, x, 0.01 * x)")]},
        S, loses=['relu_forward'], may_lose=NET + ['relu_backward']),
    'softmax_without_max_shift': Case(
        {'layers': [("shifted = x - x.max(dim=1, keepdim=True).values", "shifted = x")]},
        S, loses=['softmax_loss']),
    'softmax_loss_summed_not_mean': Case(
        {'layers': [("loss = -log_probs[rows, y].mean()", "loss = -log_probs[rows, y].sum()")]},
        S, loses=['softmax_loss'], may_lose=['fc_net']),
    'fc_net_reg_gradient_missing_factor_2': Case(
        {'layers': [("+ 2 * self.reg * W", "+ self.reg * W")]},
        S, loses=['fc_net']),
    'fc_net_regularizes_biases': Case(
        {'layers': [("loss = loss + self.reg * (W * W).sum()",
                     "bias = self.params[f'b{i}']\n"
                     "            loss = loss + self.reg * ((W * W).sum() + (bias * bias).sum())\n"
                     "            grads[f'b{i}'] = grads[f'b{i}'] + 2 * self.reg * bias")]},
        S, loses=['fc_net']),
    'fc_net_dropout_in_test_mode': Case(
        {'layers': [("h, drop_cache = Dropout.forward(h, self.dropout_param)",
                     "h, drop_cache = Dropout.forward(h, {**self.dropout_param, 'mode': 'train'})")]},
        S, loses=['fc_net']),
    'fc_net_batchnorm_batch_stats_in_test_mode': Case(
        {'layers': [("h, self.params[f'gamma{i}'], self.params[f'beta{i}'], self.bn_params[i - 1])\n"
                     "            elif",
                     "h, self.params[f'gamma{i}'], self.params[f'beta{i}'],\n"
                     "                    {**self.bn_params[i - 1], 'mode': 'train'})\n"
                     "            elif")]},
        S, loses=['fc_net']),
    'fc_net_biases_on_default_device': Case(
        {'layers': [("self.params[f'b{i}'] = torch.zeros(dout, device=self.device, dtype=dtype)",
                     "self.params[f'b{i}'] = torch.zeros(dout, dtype=dtype)")]},
        S, loses=['fc_net']),
}
