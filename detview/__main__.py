import sys

from detview.launcher import main

sys.exit(main())
