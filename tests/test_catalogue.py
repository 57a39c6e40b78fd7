"""Every catalogue case through the real grader: `python -m autograder
grade-all`, sandboxed children and all.

Cases share submissions (mistakes.pack): cases that rewrite different
functions and may cost different items go into one submission, so that in
each submission every case's items must lose points, every cascade must name
its cause, and every other item must keep full marks; which is exactly "a
mistake costs once", and "right code keeps full marks" for the variants.
"""
import json
import subprocess
import sys
import time

import pytest

from mistakes import REPO, batch_problems, build_package, item_grades, load_catalogue, merged_patch, pack

CASES = {('mistakes', *k): c for k, c in load_catalogue('mistakes').items()}
CASES.update({('variants', *k): c for k, c in load_catalogue('variants').items()})


@pytest.mark.slow
def test_every_case_costs_its_own_items_once_through_the_sandboxed_grader(tmp_path):
    batches = pack(CASES)
    assert len(batches) < len(CASES) / 5, "the cases no longer share submissions"
    for k, batch in enumerate(batches):
        build_package(merged_patch([CASES[key] for key in batch]), tmp_path / 'class' / f'batch{k}')
    started = time.monotonic()
    done = subprocess.run([sys.executable, '-m', 'autograder', 'grade-all', tmp_path / 'class',
                           '--out', tmp_path / 'grades', '--workers', '2', '--no-db'],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)
    print(f"{len(CASES)} cases in {len(batches)} submissions graded in "
          f"{time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = {}
    for k, batch in enumerate(batches):
        results = json.loads((tmp_path / 'grades' / f'batch{k}' / 'results.json').read_text())
        problems = batch_problems([CASES[key] for key in batch], item_grades(results))
        if problems:
            found[f"batch{k} {[key[2] for key in batch]}"] = problems
    assert found == {}
