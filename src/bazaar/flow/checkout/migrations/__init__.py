"""The checkout saga services' migrations, one package per service database."""
