import sys

from pebal.cli import main

sys.exit(main())
