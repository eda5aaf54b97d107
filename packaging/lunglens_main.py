"""Entry point of the frozen bundle: the same ``lunglens`` command line as the installed package."""

import sys

from inference.cli import main

if __name__ == "__main__":
    sys.exit(main())
