
# Hostile: look for the solutions, the hidden suites, the gradebook and the
# network; try to rewrite the hidden tests. Grades honestly otherwise.
import glob as _glob
import os as _os
import socket as _socket

# Not '@REPO@' itself: a virtual environment inside the repository is bound
# into the sandbox at its own path, so the folder exists there, holding only it.
SECRETS = ['@REPO@/solutions/nn_from_scratch/scratchnn/init.py', '@REPO@/solutions',
           '@REPO@/README.md', '@REPO@/.git',
           '@REPO@/autograder/suites', '@REPO@/autograder/rubric.toml', '@REPO@/gradebook.db',
           '@SUBMISSION@', '../../solutions', '../../autograder/suites']


def probe_paths(paths):
    """{path: True if it exists here} for each path."""
    return {p: _os.path.exists(p) for p in paths}


def rewrite_suites():
    """How many hidden test files it managed to overwrite."""
    done = 0
    for path in _glob.glob('@REPO@/autograder/suites/*.py'):
        try:
            with open(path, 'a') as f:
                f.write('\n# tampered\n')
            done += 1
        except OSError:
            pass
    return done


def network():
    """What reaching the network gave: 'connected' or the error."""
    try:
        _socket.create_connection(('1.1.1.1', 53), timeout=2).close()
        return 'connected'
    except OSError as e:
        return f'{type(e).__name__}: {e}'
