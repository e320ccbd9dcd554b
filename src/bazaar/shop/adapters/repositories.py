"""SQL repositories over one ``Session`` (one transaction), for the unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bazaar.shop.adapters import schema
from bazaar.shop.domain import Order, Product, Reservation, Room, RoomNight, StateConflict
from bazaar.shop.services import Credentials, IdempotencyRecord, KeyAlreadyClaimed, UserView
from bazaar.storage import StorageIntegrityError, classify


def _is_duplicate(exc: Exception) -> bool:
    error = classify(exc)
    return isinstance(error, StorageIntegrityError) and error.unique


def _flush_or_conflict(session: Session, message: str) -> None:
    """Flush now, turning a duplicate key into ``StateConflict(message)``."""
    try:
        session.flush()
    except Exception as exc:
        if _is_duplicate(exc):
            raise StateConflict(message) from exc
        raise


class SqlProducts:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, product: Product) -> None:
        self._s.add(product)
        _flush_or_conflict(self._s, f"a product with SKU {product.sku} already exists")

    def get(self, product_id: int) -> Product | None:
        return self._s.get(Product, product_id)

    def by_sku(self, sku: str) -> Product | None:
        return self._s.scalars(select(Product).where(schema.products.c.sku == sku)).first()


class SqlRooms:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, room: Room) -> None:
        self._s.add(room)
        _flush_or_conflict(self._s, f"a room type with code {room.code} already exists")

    def get(self, room_id: int) -> Room | None:
        return self._s.get(Room, room_id)

    def by_code(self, code: str) -> Room | None:
        return self._s.scalars(select(Room).where(schema.rooms.c.code == code)).first()

    def add_nights(self, nights: Sequence[RoomNight]) -> None:
        self._s.add_all(nights)
        self._s.flush()

    def bookable_span(self, room_id: int) -> tuple[date, date] | None:
        n = schema.room_nights.c
        first, last = self._s.execute(
            select(func.min(n.night), func.max(n.night)).where(n.room_id == room_id)).one()
        return None if first is None else (first, last)


class SqlOrders:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, order: Order) -> None:
        self._s.add(order)
        self._s.flush()

    def get(self, order_id: int) -> Order | None:
        return self._s.get(Order, order_id)

    def for_user(self, user_id: int, after: int, limit: int) -> list[Order]:
        o = schema.orders
        query = (select(Order).where(o.c.user_id == user_id, o.c.id > after)
                 .order_by(o.c.id).limit(limit))
        return list(self._s.scalars(query))

    def checkout_requested(self, limit: int) -> list[Order]:
        o = schema.orders
        query = (select(Order).where(o.c.status == "checking_out", o.c.checkout == "requested")
                 .order_by(o.c.id).limit(limit))
        return list(self._s.scalars(query))


class SqlReservations:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, reservation: Reservation) -> None:
        self._s.add(reservation)
        self._s.flush()

    def get(self, reservation_id: int) -> Reservation | None:
        return self._s.get(Reservation, reservation_id)


class SqlUsers:
    """Users through Core: the domain has no user entity worth mapping."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, username: str, display_name: str, password_hash: str,
            scopes: Sequence[str]) -> int:
        u = schema.users
        try:
            user_id = self._s.scalar(insert(u).values(
                username=username, display_name=display_name,
                password_hash=password_hash, scopes=" ".join(scopes)).returning(u.c.id))
        except Exception as exc:
            if _is_duplicate(exc):
                raise StateConflict(f"username {username!r} is taken") from exc
            raise
        assert user_id is not None
        return int(user_id)

    def get(self, user_id: int) -> UserView | None:
        u = schema.users
        row = self._s.execute(select(u.c.id, u.c.username, u.c.display_name, u.c.scopes)
                              .where(u.c.id == user_id)).first()
        if row is None:
            return None
        return UserView(row.id, row.username, row.display_name, tuple(row.scopes.split()))

    def by_username(self, username: str) -> Credentials | None:
        u = schema.users
        row = self._s.execute(select(u.c.id, u.c.password_hash, u.c.scopes)
                              .where(u.c.username == username)).first()
        if row is None:
            return None
        return Credentials(row.id, row.password_hash, tuple(row.scopes.split()))

    def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        u = schema.users
        result = self._s.execute(update(u).where(u.c.id == user_id)
                                 .values(password_hash=password_hash))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlIdempotencyKeys:
    def __init__(self, session: Session) -> None:
        self._s = session

    def find(self, user_id: int, key: str) -> IdempotencyRecord | None:
        k = schema.idempotency_keys
        row = self._s.execute(select(k.c.request_hash, k.c.order_id)
                              .where(k.c.user_id == user_id, k.c.key == key)).first()
        return None if row is None else IdempotencyRecord(row.request_hash, row.order_id)

    def claim(self, user_id: int, key: str, request_hash: str) -> None:
        k = schema.idempotency_keys
        try:
            self._s.execute(insert(k).values(user_id=user_id, key=key,
                                             request_hash=request_hash))
        except Exception as exc:
            if _is_duplicate(exc):
                raise KeyAlreadyClaimed(key) from exc
            raise

    def attach(self, user_id: int, key: str, order_id: int) -> None:
        k = schema.idempotency_keys
        self._s.execute(update(k).where(k.c.user_id == user_id, k.c.key == key)
                        .values(order_id=order_id))
