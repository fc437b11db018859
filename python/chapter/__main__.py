"""``python -m chapter``: the command line (see :mod:`chapter.cli`).

The guard matters: worker processes started with the ``spawn`` method import the main module
again under the name ``__mp_main__``, and must not run the command a second time.
"""

import sys

from chapter.cli import main

if __name__ == "__main__":
    sys.exit(main())
