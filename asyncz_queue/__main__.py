"""`python -m asyncz_queue`: the command line."""

import sys

from asyncz_queue.cli import main

sys.exit(main())
