"""``python -m runtime_alloc``: the ``runtime-alloc`` command line."""

import sys

from runtime_alloc.cli import main

if __name__ == "__main__":
    sys.exit(main())
