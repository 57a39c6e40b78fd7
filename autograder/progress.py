"""A progress bar for one grade: `python -m autograder grade` loads this module
into the harness's pytest run as a plugin (through PYTEST_PLUGINS), so the
instructor sees the hidden tests go by on stderr. It only watches: it changes
no test, no outcome and no score."""
import sys

_bar = None


def pytest_collection_finish(session):
    global _bar
    from tqdm import tqdm
    _bar = tqdm(total=len(session.items), file=sys.stderr, unit='test', desc='hidden tests',
                dynamic_ncols=True)


def pytest_runtest_logfinish(nodeid, location):
    if _bar is not None:
        _bar.update()


def pytest_sessionfinish(session, exitstatus):
    global _bar
    if _bar is not None:
        _bar.close()
        _bar = None
