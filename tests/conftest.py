"""Shared test setup: the reference package is importable as `scratchnn`."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / 'solutions' / 'nn_from_scratch'
RELEASE = REPO / 'assignments' / 'nn_from_scratch'

if str(SOLUTIONS) not in sys.path:
    sys.path.insert(0, str(SOLUTIONS))
