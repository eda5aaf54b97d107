"""Entry point of the frozen bundle: the same ``lunglens`` command line as the installed package."""

import multiprocessing
import sys

from inference.cli import main

if __name__ == "__main__":
    # lunglens batch (and the viewer's "Analyse a folder") start worker processes as this executable.
    multiprocessing.freeze_support()
    sys.exit(main())
