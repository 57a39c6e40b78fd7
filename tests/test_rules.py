"""The rule check's allow-list (autograder/rules.py), in-process on source strings:
every class of route to PyTorch's gradients or to introspection is refused
however it is spelled, the way the course teaches passes, and the check
never crashes. The same routes through the real sandbox: tests/test_hostile.py."""
import pytest

from autograder import rules

# Each attack is the body of the graded function f(x, w): it must be refused
# there, and nowhere else.
ATTACKS = {
    # autograd itself, and the backward kernels of torch
    'tensor_backward_grad': "x.requires_grad_()\n(x * w).sum().backward()\nreturn x.grad",
    'requires_grad_keyword': "leaf = torch.zeros(3, requires_grad=True)\nreturn leaf",
    'register_hook': "return x.register_hook(print)",
    'autograd_grad': "return torch.autograd.grad(x, w)",
    'forward_ad': "import torch.autograd.forward_ad as fwAD\nreturn fwAD.make_dual(x, w)",
    'from_autograd_import': "from torch.autograd import forward_ad\nreturn forward_ad",
    'func_jvp': "return torch.func.jvp(torch.sin, (x,), (w,))",
    'from_torch_import_func': "from torch import func\nreturn func.vjp",
    'ops_registry': "return torch.ops.aten.native_batch_norm_backward(x, w)",
    'ops_alias': "from torch import ops as o\nreturn o.aten",
    'torch_namespace_backward_kernel': "return torch.batch_norm_backward_elemt(x, w)",
    'torch_namespace_layer': "return torch.batch_norm(x, w, w, w, w, True, 0.1, 1e-5, False)",
    'private_torch': "return torch._C._functions",
    'library': "return torch.library.Library('aten', 'IMPL')",
    'jit': "return torch.jit.script(f)",
    'compile': "return torch.compile(f)",
    'fx': "return torch.fx.symbolic_trace(f)",
    'nn_functional': "return torch.nn.functional.relu(x)",
    'optim': "return torch.optim.SGD",
    'overrides': "return torch.overrides.get_overridable_functions()",
    'utils': "return torch.utils.checkpoint",
    'set_grad_enabled': "torch.set_grad_enabled(True)\nreturn x",
    'enable_grad': "with torch.enable_grad():\n    return x",
    'torch_function': "return x.__torch_function__",
    'vmap': "return torch.vmap(torch.sin)(x)",
    # builtins that reach any attribute or any code
    'getattr': "return getattr(torch, 'ops')",
    'getattr_aliased': "g = getattr\nreturn g(torch, 'ops')",
    'builtins_name': "return __builtins__['getattr']",
    'import_builtins': "import builtins\nreturn builtins.getattr",
    'dunder_import': "return __import__('torch.autograd')",
    'importlib': "import importlib\nreturn importlib.import_module('torch.autograd')",
    'sys_modules': "import sys\nreturn sys.modules['torch.autograd']",
    'from_sys_import_modules': "from sys import modules\nreturn modules",
    'os_system': "import os\nreturn os.system('true')",
    'attrgetter': "import operator\nreturn operator.attrgetter('ops')(torch)",
    'functools_partial_func': "import functools\nreturn functools.partial(print).func",
    'eval': "return eval('torch.autograd')",
    'exec': "exec('import torch.autograd')\nreturn x",
    'compile_builtin': "return compile('1', 'f', 'eval')",
    'vars': "return vars(torch)['ops']",
    'type': "return type(x)",
    'globals': "return globals()",
    'dict_of_module': "return torch.__dict__['ops']",
    'class_mro': "return x.__class__.__mro__[-1].__subclasses__()",
    'gc_referrers': "import gc\nreturn gc.get_referrers(x)",
    'inspect': "import inspect\nreturn inspect.currentframe()",
    'traceback_frame': "try:\n    1 / 0\nexcept Exception as e:\n    return e.__traceback__.tb_frame",
    'with_traceback': "try:\n    1 / 0\nexcept Exception as e:\n    return e.with_traceback",
    'generator_frame': "g = (i for i in x)\nreturn g.gi_frame.f_back.f_globals",
    'closure_cell': "return torch.Tensor.backward.__closure__[0].cell_contents",
    'code_object': "return f.__code__.replace(co_filename='/usr/lib/python3/os.py')",
    'string_format_attribute_is_no_object': "return '{0.__class__}'.format(x) and x.gi_code",
    'match_class_attribute': "match x:\n    case object(__class__=c):\n        return c",
    'match_class_grad': "match x:\n    case torch.Tensor(grad=g):\n        return g",
    'storage': "return x.untyped_storage()",
    'data_ptr': "return x.data_ptr()",
    'numpy_file': "import numpy as np\nreturn np.load('/tmp/x.npy')",
    'numpy_lib': "import numpy as np\nreturn np.lib.stride_tricks.as_strided(x)",
    'numpy_text_file': "import numpy as np\nreturn np.genfromtxt('/etc/passwd')",
    'numpy_random_module': "import numpy as np\nreturn np.random.default_rng().bit_generator",
    'open': "return open('/proc/self/mem', 'wb')",
    'import_the_package': "import scratchnn\nreturn scratchnn.conv.F",
    'breakpoint': "breakpoint()\nreturn x",
    'rebinding_a_builtin': "getattr = print\nreturn getattr(x)",
    'torch_module_attribute_of_torch': "return torch.autograd",
    'submodule_of_torch_not_in_dir': "return torch.export",
    'own_name_shadowing_torch': "x.ops = 1\nreturn torch.ops",
    'given_module_import': "from .conv import F\nreturn F.relu(x)",
    'given_module_attribute': "from . import conv\nreturn conv.F.relu(x)",
    'given_module_via_the_package': "import scratchnn.conv\nc = scratchnn.conv\nreturn c.F.relu(x)",
    'given_module_aliased': "from . import conv as c\nd = c\nreturn d.F.relu(x)",
    'student_module_imports': "from . import layers\nreturn layers.torch.ops",
    'relative_outside': "from .. import secrets\nreturn secrets",
    'star_import': "from torch import *\nreturn x",
    'metaclass_type': "class M(type):\n    pass\nreturn M",
    'dunder_method': "class T(torch.Tensor):\n    def __torch_function__(cls, *a):\n        return a\nreturn T",
    'global_dunder': "global __builtins__\nreturn x",
    'lambda_default': "return (lambda g=getattr: g)()",
    'decorator_inside': "@torch.jit.script\ndef h(y):\n    return y\nreturn h",
    'keyword_dunder': "return dict(__class__=1)",
    'nonlocal_builtin': "def h():\n    nonlocal getattr\nreturn x",
}

# Honest code the check must let through, the way students write it.
ACCEPTED = {
    'shapes_and_reshapes': "N = x.shape[0]\nreturn x.reshape(N, -1).t() @ w.T + x.mT.sum() + x.numel() + x.dim()",
    'creation': "return torch.zeros_like(x) + x.new_zeros(x.shape) + torch.ones(3, dtype=x.dtype, device=x.device)",
    'clamp_where_mask': "return torch.where(x > 0, x, 0.0).clamp(min=0).masked_fill(x < 0, 0)",
    'numpy_prod': "import numpy as np\nreturn x.reshape(x.shape[0], int(np.prod(x.shape[1:])))",
    'math': "import math\nreturn x * math.sqrt(2.0 / math.prod(x.shape[1:])) + math.pi",
    'dicts': "config = {}\nconfig.setdefault('lr', 1e-2)\nlr = config.get('lr')\nreturn [k for k, v in sorted(config.items())]",
    'builtins': "return min(abs(len(x)), max(range(3))) + sum(float(i) for i, _ in enumerate(zip(x, x))) + isinstance(x, torch.Tensor)",
    'rng': "g = torch.Generator().manual_seed(0)\ntorch.manual_seed(0)\nreturn torch.rand(x.shape, generator=g) < 0.5",
    'to_item_clone_detach': "return x.to(torch.float64).clone().detach().item() + x.cpu().tolist()[0]",
    'no_grad': "with torch.no_grad():\n    return x.var_mean(dim=0, unbiased=False)",
    'max_values': "return x.max(dim=1, keepdim=True).values - x.min(dim=0).indices",
    'linalg': "return torch.linalg.norm(x) + torch.special.expit(x) + torch.einsum('ij->j', x)",
    'own_attributes': "self = object()\nself.my_cache = x\nself.grads, self.layers = {}, []\n"
                      "return x.dtype.is_floating_point and x.device.type",
    'namedtuple_fields': "import collections\nC = collections.namedtuple('C', 'x w')\nreturn C(x, w).x",
    'printing': "import sys\nprint('debug', file=sys.stderr)\nsys.stderr.write('x')\nreturn x",
    'warning': "import warnings\nwarnings.warn('careful')\nreturn x",
    'exceptions': "try:\n    return x\nexcept (ValueError, RuntimeError) as e:\n    raise NotImplementedError(str(e)) from None",
    'release_names': "from . import _checks\n_checks.tensor('x', x)\nreturn Linear.backward(x, (x, w, w))",
    'finfo': "return torch.finfo(x.dtype).eps + x.abs().add_(1).sqrt_()",
    'private_name_of_its_own': "_seen = [x]\nreturn _seen",
    'module_name': "return __name__ == 'scratchnn.layers' and x",
}


class Submission:
    """Student modules' sources, as a submission.Submission gives them."""

    def __init__(self, **sources):
        self.sources = sources

    def source(self, module):
        return self.sources.get(module)


class Item:
    def __init__(self, *functions):
        self.functions = functions


def check(body):
    source = "import torch\n\n\ndef f(x, w):\n" + ''.join(f"    {line}\n" for line in body.splitlines())
    return rules.check_source(source, {'f'})


@pytest.mark.parametrize('name', ATTACKS)
def test_every_route_to_gradients_or_introspection_is_refused_where_it_is(name):
    found = check(ATTACKS[name])
    assert set(found) == {'f'}, found
    assert all(line >= 5 for line, _ in found['f']), found


@pytest.mark.parametrize('name', ACCEPTED)
def test_the_way_the_course_teaches_passes(name):
    assert check(ACCEPTED[name]) == {}


@pytest.mark.parametrize('outside', [
    "def _helper(m=torch.ops):\n    return m\n",
    "@torch.jit.script\ndef helper(y):\n    return y\n",
    "class Box:\n    grad = torch.autograd\n",
    "import torch.nn as nn\n",
    "from torch import autograd as grad_tools\n",
    "_g = getattr\n",
])
def test_a_route_outside_the_graded_functions_costs_the_whole_module(outside):
    source = "import torch\n" + outside + "\n\ndef f(x):\n    return x\n"
    found = rules.check_source(source, {'f'})
    assert set(found) == {None}, found


@pytest.mark.parametrize('source, why', [
    ("x = " + " + ".join(['1'] * 100_000) + "\n", 'refused'),
    ("x = " + "(" * 300 + "1" + ")" * 300 + "\n", 'not valid Python'),
    ("def f(:\n", 'not valid Python'),
    ("x = 1\0\n", 'null bytes'),
    ("x = " + "-" * 5000 + "1\n", 'refused'),
    ("x = " + "-" * 150 + "1\n", 'nests'),
    ("x = " + "[" * 95 + "]" * 95 + "\n" + "if x:\n" * 99 + "    pass\n", ''),
])
def test_a_module_the_check_cannot_read_is_refused_never_crashes(source, why):
    found = rules.check_source(source, {'f'})
    assert list(found) == [None] and why in found[None][0][1], found


def test_a_violation_message_names_the_function_line_and_reason_in_one_line():
    submission = Submission(layers="import torch\n\ndef f(x):\n    return getattr(x, 'grad')\n")
    message = rules.check_submission(submission, {'it': Item('layers.f')})['it']
    assert '\n' not in message
    assert "layers.f uses getattr (a builtin that is not allowed) (line 4)" in message


def test_the_allow_list_holds_no_gradient_name_and_the_course_needs():
    allowed = rules.allowed_attributes()
    for name in ('grad', 'backward', 'requires_grad_', 'register_hook', 'ops', 'autograd',
                 'func', 'library', 'jit', 'compile', 'fx', 'nn', 'optim', 'overrides', 'utils',
                 'untyped_storage', 'data_ptr', 'batch_norm', 'make_dual', 'set_grad_enabled'):
        assert name not in allowed, name
    for name in ('reshape', 'zeros_like', 'prod', 'clamp', 't', 'T', 'mT', 'new_zeros',
                 'masked_fill', 'where', 'numel', 'dim', 'device', 'dtype', 'to', 'item',
                 'clone', 'detach', 'get', 'setdefault', 'manual_seed', 'Generator', 'sqrt'):
        assert name in allowed, name


def test_what_breaks_the_rules_in_one_module_taints_the_modules_that_import_it():
    """A helper in layers that reaches getattr, imported by optim: optim's items are
    zeroed too; a module importing only clean names of layers is not."""
    rubric = {'relu': Item('layers.relu'), 'sgd': Item('optim.sgd'),
              'adam': Item('optim.adam'), 'init': Item('init.init')}
    submission = Submission(
        layers="g = getattr\n\ndef relu(x):\n    return x\n\ndef clean(x):\n    return x\n",
        optim="from .layers import g\n\ndef sgd(w):\n    return g(w, 'grad')\n\n"
              "def adam(w):\n    return w\n",
        init="from .optim import adam\n\ndef init(w):\n    return adam(w)\n")
    violations = rules.check_submission(submission, rubric)
    assert set(violations) == {'relu', 'sgd', 'adam', 'init'}
    assert 'what scratchnn/layers.py breaks the rules with' in violations['sgd']
    clean = Submission(layers="def relu(x):\n    return getattr(x, 'grad')\n\ndef clean(x):\n    return x\n",
                       optim="from .layers import clean\n\ndef sgd(w):\n    return clean(w)\n\n"
                             "def adam(w):\n    return w\n")
    assert set(rules.check_submission(clean, rubric)) == {'relu'}
