"""The hidden suites accept right code written differently: every variant in
tests/variants/ (unusual but correct implementations) keeps full marks on
every item it is graded on. The default run grades one variant per module.
"""
import pytest

from mistakes import build_package, grade, load_catalogue
from test_mistakes import params

CATALOGUE = load_catalogue('variants')


@pytest.mark.parametrize('key', params(CATALOGUE))
def test_variant_keeps_full_marks(key, tmp_path):
    case = CATALOGUE[key]
    grades = grade(build_package(case.patch, tmp_path), case.suites)
    for item, g in grades.items():
        assert g['score'] == g['max'], (item, g['failed'])
