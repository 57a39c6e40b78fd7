"""Command line of the course kit:

    python -m coursekit release       generate assignments/ from solutions/
    python -m coursekit publish DIR   write the student repository into DIR
    python -m coursekit demo          the instructor pipeline on sample submissions

`python -m coursekit COMMAND --help` says more about each.
"""
import sys

COMMANDS = ('release', 'publish', 'demo')


def main(argv=None):
    """Run the command argv names; --help (or -h) prints the commands and exits 0."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (['--help'], ['-h']):
        print(__doc__.strip())
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m coursekit {{{','.join(COMMANDS)}}} [options]\n\n{__doc__.strip()}",
              file=sys.stderr)
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
