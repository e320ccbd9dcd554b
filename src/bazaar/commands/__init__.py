"""Command groups of the ``bazaar`` CLI, one module each, registered in ``bazaar.cli``."""
