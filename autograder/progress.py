"""A progress bar for one grade: `python -m autograder grade` loads this module
into the harness's pytest run as a plugin (through PYTEST_PLUGINS), so the
instructor sees the hidden tests go by on stderr. It only watches: it changes
no test, no outcome and no score."""
import sys

_bar = None


def progress_bar(file, **options):
    """A tqdm bar on file: redrawn in place on a terminal; into a file or a
    pipe (a log, CI) only its first and last line, not an update every tenth
    of a second."""
    from tqdm import tqdm
    on_terminal = file.isatty()
    return tqdm(file=file, dynamic_ncols=on_terminal,
                mininterval=0.1 if on_terminal else float('inf'), **options)


def pytest_collection_finish(session):
    global _bar
    _bar = progress_bar(sys.stderr, total=len(session.items), unit='test', desc='hidden tests')


def pytest_runtest_logfinish(nodeid, location):
    if _bar is not None:
        _bar.update()


def pytest_sessionfinish(session, exitstatus):
    global _bar
    if _bar is not None:
        _bar.close()
        _bar = None
