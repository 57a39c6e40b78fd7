"""`python -m autograder`: see autograder/cli.py."""
import logging
import os
import sys

from .cli import main

code = main()
if sys.argv[1:2] == ['grade']:
    # The grade is written and its sandbox closed: skip the interpreter's
    # teardown, which spends 0.7 s of every grading freeing torch's modules.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
