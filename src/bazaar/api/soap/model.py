"""The SOAP service's types and operations as data: the WSDL is generated from them, requests
are read and responses written by them, so what the WSDL says is what the server does."""

from __future__ import annotations

from dataclasses import dataclass

TNS = "urn:bazaar:shop:v1"
SERVICE = "ShopService"


@dataclass(frozen=True)
class Field:
    """One element of a sequence: ``kind`` is an XSD simple type (``long``, ``int``,
    ``string``, ``boolean``, ``date``) or one of :data:`TYPES`; ``attr`` the view's
    attribute it carries (default: ``name`` in snake_case)."""

    name: str
    kind: str
    optional: bool = False
    many: bool = False
    attr: str | None = None

    @property
    def python(self) -> str:
        if self.attr is not None:
            return self.attr
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name)

    @property
    def simple(self) -> bool:
        return self.kind in SIMPLE


SIMPLE = ("long", "int", "string", "boolean", "date")

#: Complex types (outputs, and the one structured input, ``LineIn``).
TYPES: dict[str, tuple[Field, ...]] = {
    "Product": (Field("id", "long"), Field("sku", "string"), Field("name", "string"),
                Field("priceCents", "long"), Field("stock", "long")),
    "Room": (Field("id", "long"), Field("code", "string"), Field("name", "string"),
             Field("priceCents", "long"), Field("count", "int")),
    "RoomAvailability": (Field("room", "Room"), Field("available", "int"),
                         Field("nights", "int"), Field("totalPriceCents", "long")),
    "Reservation": (Field("id", "long"), Field("roomId", "long"), Field("checkIn", "date"),
                    Field("checkOut", "date"), Field("rooms", "int"),
                    Field("priceCents", "long"), Field("status", "string")),
    "OrderLine": (Field("productId", "long"), Field("quantity", "int"),
                  Field("unitPriceCents", "long"),
                  Field("productName", "string", optional=True)),
    "Order": (Field("id", "long"), Field("status", "string"), Field("totalCents", "long"),
              Field("line", "OrderLine", many=True, attr="lines")),
    "CheckoutStarted": (Field("orderId", "long"), Field("mode", "string"),
                        Field("sagaId", "string")),
    "CheckoutState": (Field("orderId", "long"), Field("status", "string"),
                      Field("reason", "string", optional=True)),
    "LineIn": (Field("productId", "long"), Field("quantity", "int")),
    "ShopFault": (Field("code", "string"), Field("message", "string"),
                  Field("field", "string", optional=True),
                  Field("retryable", "boolean"),
                  Field("reason", "string", optional=True),
                  Field("requested", "int", optional=True),
                  Field("available", "int", optional=True)),
}


@dataclass(frozen=True)
class Operation:
    """A document/literal wrapped operation: request element ``name`` holding ``inputs``,
    response element ``nameResponse`` holding ``outputs``."""

    name: str
    doc: str
    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]

    @property
    def action(self) -> str:
        return f"{TNS}#{self.name}"


_ID = (Field("id", "long"),)
OPERATIONS: tuple[Operation, ...] = (
    Operation("GetProduct", "Read a product.", _ID, (Field("product", "Product"),)),
    Operation("ListProducts", "Products by id, filtered, a page at a time.",
              (Field("q", "string", optional=True),
               Field("minPriceCents", "long", optional=True),
               Field("maxPriceCents", "long", optional=True),
               Field("inStock", "boolean", optional=True),
               Field("after", "long", optional=True), Field("limit", "int", optional=True)),
              (Field("product", "Product", many=True, attr="items"),
               Field("nextAfter", "long", optional=True))),
    Operation("GetRoom", "Read a room type.", _ID, (Field("room", "Room"),)),
    Operation("SearchRooms", "Room types with rooms free on every night of a stay.",
              (Field("checkIn", "date"), Field("checkOut", "date"),
               Field("rooms", "int", optional=True)),
              (Field("availability", "RoomAvailability", many=True, attr="items"),)),
    Operation("ReserveRoom", "Reserve rooms for every night of a stay, or none.",
              (Field("roomId", "long"), Field("checkIn", "date"), Field("checkOut", "date"),
               Field("rooms", "int", optional=True)),
              (Field("reservation", "Reservation"),)),
    Operation("CancelReservation", "Cancel a reservation (frees its nights).", _ID,
              (Field("reservation", "Reservation"),)),
    Operation("PlaceOrder", "Place an order: all lines or none; the same idempotencyKey "
                            "on a retry places it at most once.",
              (Field("line", "LineIn", many=True), Field("idempotencyKey", "string",
                                                         optional=True)),
              (Field("order", "Order"), Field("replayed", "boolean"))),
    Operation("GetOrder", "Read one of your orders.", _ID, (Field("order", "Order"),)),
    Operation("ListOrders", "Your orders, oldest first.",
              (Field("after", "long", optional=True), Field("limit", "int", optional=True),
               Field("withProductNames", "boolean", optional=True)),
              (Field("order", "Order", many=True, attr="items"),
               Field("nextAfter", "long", optional=True))),
    Operation("CancelOrder", "Cancel one of your orders (returns its stock).", _ID,
              (Field("order", "Order"),)),
    Operation("StartCheckout", "Check out a placed order (the saga).",
              (Field("orderId", "long"),), (Field("checkout", "CheckoutStarted"),)),
    Operation("GetCheckout", "An order's checkout state.", (Field("orderId", "long"),),
              (Field("checkout", "CheckoutState"),)),
)

BY_NAME = {op.name: op for op in OPERATIONS}
