"""PyInstaller entry point: the ``detview`` command."""

import sys

from detview.launcher import main

if __name__ == "__main__":
    sys.exit(main())
