"""The hidden suites accept right code written differently: every variant in
tests/variants/ (unusual but correct implementations, written the way
students write them) keeps full marks on the items of the functions it
rewrites and on the items that use them. The default run grades one variant
per module; test_catalogue.py grades them all through the real sandbox.
"""
import pytest

from mistakes import build_package, grade, load_catalogue, touched_items
from test_mistakes import params

CATALOGUE = load_catalogue('variants')


@pytest.mark.parametrize('key', params(CATALOGUE))
def test_variant_keeps_full_marks(key, tmp_path):
    case = CATALOGUE[key]
    grades = grade(build_package(case.patch, tmp_path), items=sorted(touched_items(case.patch)))
    assert {i: g['failed'] for i, g in grades.items() if g['score'] < g['max']} == {}
