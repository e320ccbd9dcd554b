"""The shop: users, inventory (products, hotel rooms), reservations and orders.

``domain`` is pure Python; ``services`` holds the use cases and the ports they need;
``adapters`` implements those ports on SQLAlchemy. Only ``bazaar.bootstrap`` wires them.
"""
