"""A throwaway PostgreSQL server for the gradebook tests: the `postgres_url` fixture.

The server comes from the system's packages (`apt-get install postgresql`;
.ci/run installs it when it can). It runs as an unprivileged user (initdb
refuses root: as root the tests run it as `postgres`, or `nobody`), in a
temporary data folder, listening only on a Unix socket there, and is
stopped at the end of the session. Where it cannot start, the tests that
need it are skipped with the reason.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

START_TIMEOUT = 60


def server_binaries():
    """The folder holding initdb and postgres (the newest version installed), or None."""
    found = shutil.which('initdb')
    if found:
        return Path(found).resolve().parent      # (Debian links a few of them into /usr/local/bin)
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def server_user():
    """(user name, uid, gid) to run the server as: ourselves, unless we are root."""
    if os.getuid() != 0:
        entry = pwd.getpwuid(os.getuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    for name in ('postgres', 'nobody'):
        try:
            entry = pwd.getpwnam(name)
            return name, entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    return None


def as_user(user):
    """Popen arguments that run a command as user (when we are root)."""
    _, uid, gid = user
    return {'user': uid, 'group': gid, 'extra_groups': []} if os.getuid() == 0 else {}


def _run(args, user):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **as_user(user))


@pytest.fixture(scope='session')
def postgres_server():
    """(createdb, socket folder, user) of a fresh PostgreSQL server, for the session."""
    bindir, user = server_binaries(), server_user()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no initdb; apt-get install postgresql): "
                    "the PostgreSQL gradebook test cannot run")
    if user is None:
        pytest.skip("running as root with no unprivileged user to run PostgreSQL as")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg2 driver is not installed (pip install -r requirements.txt)")
    root = Path(tempfile.mkdtemp(prefix='gradebook-pg-'))
    os.chown(root, user[1], user[2])
    data, socket_dir = root / 'data', root
    init = _run([str(bindir / 'initdb'), '-D', str(data), '-U', 'grader', '--auth=trust',
                 '-E', 'UTF8', '--no-sync'], user)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed, PostgreSQL cannot start here: {init.stderr.strip()[-300:]}")
    server = subprocess.Popen([str(bindir / 'postgres'), '-D', str(data), '-k', str(socket_dir),
                               '-c', 'listen_addresses=', '-c', 'fsync=off'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              **as_user(user))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            ready = _run([str(bindir / 'pg_isready'), '-h', str(socket_dir), '-U', 'grader'], user)
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.skip(f"the PostgreSQL server did not start: {server.stderr.read()[-300:]}")
            time.sleep(0.2)
        yield bindir / 'createdb', socket_dir, user
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """An SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    createdb, socket_dir, user = postgres_server
    name = 'gradebook_' + ''.join(c if c.isalnum() else '_' for c in request.node.name)[:40].lower()
    made = _run([str(createdb), '-h', str(socket_dir), '-U', 'grader', name], user)
    assert made.returncode == 0, made.stderr
    return f'postgresql+psycopg2://grader@/{name}?host={socket_dir}'
