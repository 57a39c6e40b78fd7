

def _odd_text_relu_forward(x):
    """Hostile: prints terminal controls and undecodable bytes, then raises
    with a message holding a lone surrogate (no UTF-8 writer takes it), ANSI
    escapes, a right-to-left override and HTML."""
    import sys
    print('\x1b[2J\x1b]0;owned\x07 cleared your screen \u202eevil', flush=True)
    sys.stdout.buffer.write(b'bytes \xff\xfe\n')
    sys.stdout.flush()
    raise ValueError('bad \ud800 \x1b[31mred\x1b[0m \u202eevil <script>x</script>\r\n=1+1')


ReLU.forward = staticmethod(_odd_text_relu_forward)
