"""Output files written whole or not at all, readable as the umask says.

    write_text_atomic(path, text)     write_json_atomic(path, obj)

A stopped run never leaves half a file: the text goes to a temporary file
beside path, which then replaces path in one rename. The temporary file
comes from mkstemp, which creates it 0600; it is given the mode a plain
open() would have (0666 less the umask) before the rename, so that a
feedback page can be served and a grades folder shared.
"""
import json
import os
import tempfile
from pathlib import Path


def current_umask():
    """The process's umask: from /proc (Linux, safe beside other threads), else
    by setting it and setting it straight back."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path, text):
    """Write text to path so that path is always absent, the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.part')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj):
    """Write obj as JSON to path, atomically (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(obj, indent=1) + '\n')
