"""Command line of the course kit:

    python -m coursekit release       generate assignments/ from solutions/
    python -m coursekit publish DIR   write the student repository into DIR
    python -m coursekit demo          the instructor pipeline on sample submissions
"""
import sys

COMMANDS = ('release', 'publish', 'demo')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m coursekit {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    if argv[0] == 'release':
        from .release import main as command
    elif argv[0] == 'publish':
        from .publish import main as command
    else:
        from .demo import main as command
    return command(argv[1:])


if __name__ == '__main__':
    sys.exit(main())
