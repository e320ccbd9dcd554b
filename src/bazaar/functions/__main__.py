"""``python -m bazaar.functions serve|worker``."""

from bazaar.functions._entry import main

main()
