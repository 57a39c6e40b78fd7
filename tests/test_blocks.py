"""The solution-block parser that the release and the autograder share."""

import pytest

from conftest import SOLUTIONS
from autograder.blocks import find_blocks, stub_source, student_functions
from autograder.rubric import load_rubric


def test_stub_replaces_block_with_named_error():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    y = x * 2\n    ### END SOLUTION\n    return y\n"
    stub = stub_source(src, 'scratchnn/m.py')
    assert 'x * 2' not in stub
    ns = {}
    exec(stub, ns)
    with pytest.raises(NotImplementedError, match=r'Implement f in scratchnn/m\.py'):
        ns['f'](3)


def test_qualname_of_method():
    src = "class A:\n    def g(self):\n        ### BEGIN SOLUTION\n        pass\n        ### END SOLUTION\n"
    assert [b[3] for b in find_blocks(src)] == ['A.g']


@pytest.mark.parametrize('src, message', [
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n", 'never ends'),
    ("def f():\n    pass\n    ### END SOLUTION\n", 'without a BEGIN'),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", 'outside a function'),
])
def test_malformed_blocks_are_errors(src, message):
    with pytest.raises(ValueError, match=message):
        find_blocks(src)



def test_rubric_covers_every_student_function():
    graded = {f for item in load_rubric().values() for f in item.functions}
    written = {f'{mod}.{q}' for mod, qs in student_functions(SOLUTIONS / 'scratchnn').items()
               for q in qs}
    assert graded == written
