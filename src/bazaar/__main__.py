"""``python -m bazaar``: the same command line as ``bazaar``."""

from bazaar.cli import main

main()
