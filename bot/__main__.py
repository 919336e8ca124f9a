"""`python -m bot` runs the same command line as `dualnova`."""

import sys

from bot.entry import main

sys.exit(main())
