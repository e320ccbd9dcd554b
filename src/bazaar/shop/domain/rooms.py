"""Hotel rooms: a room type with ``count`` identical rooms, sold night by night.

Each (room, night) has its own availability row, so two stays that share one night compete
for that night only. ``reserved`` never exceeds ``total``: never double-book.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from bazaar.shop.domain.errors import InvalidInput, NotHeld, SoldOut, StateConflict

MAX_STAY_NIGHTS = 30
MAX_ROOMS_PER_BOOKING = 10
MAX_ROOM_COUNT = 10_000
MAX_ROOM_PRICE_CENTS = 100_000_000
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


def stay_nights(check_in: date, check_out: date) -> list[date]:
    """The nights of a stay: ``check_in`` up to, not including, ``check_out``."""
    if check_out <= check_in:
        raise InvalidInput("check_out", "must be after check_in")
    nights = (check_out - check_in).days
    if nights > MAX_STAY_NIGHTS:
        raise InvalidInput("check_out", f"a stay is at most {MAX_STAY_NIGHTS} nights")
    return [check_in + timedelta(days=i) for i in range(nights)]


def check_rooms(quantity: int, field: str = "rooms") -> int:
    if isinstance(quantity, bool) or not 1 <= quantity <= MAX_ROOMS_PER_BOOKING:
        raise InvalidInput(field, f"must be between 1 and {MAX_ROOMS_PER_BOOKING}")
    return quantity


@dataclass(eq=False)
class Room:
    """A room type, e.g. ``DBL`` "Double room", ``count`` of them, priced per night."""

    code: str
    name: str
    price_cents: int
    count: int
    id: int | None = None


def new_room(code: str, name: str, price_cents: int, count: int) -> Room:
    if not CODE_PATTERN.match(code):
        raise InvalidInput("code", "must be 2-32 characters of A-Z, 0-9 and '-'")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name", "must be 1-200 characters")
    if not 0 <= price_cents <= MAX_ROOM_PRICE_CENTS:
        raise InvalidInput("price_cents", f"must be between 0 and {MAX_ROOM_PRICE_CENTS}")
    if not 1 <= count <= MAX_ROOM_COUNT:
        raise InvalidInput("count", f"must be between 1 and {MAX_ROOM_COUNT}")
    return Room(code=code, name=name, price_cents=price_cents, count=count)


@dataclass(eq=False)
class RoomNight:
    """How many rooms of one type are taken on one night. Versioned by the SQL adapter."""

    room_id: int
    night: date
    total: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.total - self.reserved

    def book(self, rooms: int) -> None:
        """Take ``rooms`` rooms for this night, or raise :class:`SoldOut` and change nothing."""
        check_rooms(rooms)
        if rooms > self.available:
            raise SoldOut("room", f"{self.room_id} on {self.night.isoformat()}", rooms,
                          self.available)
        self.reserved += rooms

    def release(self, rooms: int) -> None:
        """Give back ``rooms`` rooms taken for this night; more than are taken is a double
        give-back: :class:`NotHeld`, nothing changed (it is not clamped at zero, which
        would hide it)."""
        check_rooms(rooms)
        if rooms > self.reserved:
            raise NotHeld("room", f"{self.room_id} on {self.night.isoformat()}", rooms,
                          self.reserved)
        self.reserved -= rooms


class ReservationStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(eq=False)
class Reservation:
    """A guest's stay: ``rooms`` rooms of one type for the nights of [check_in, check_out)."""

    user_id: int
    room_id: int
    check_in: date
    check_out: date
    rooms: int
    price_cents: int
    status: str = ReservationStatus.BOOKED
    id: int | None = None

    @property
    def nights(self) -> list[date]:
        return stay_nights(self.check_in, self.check_out)

    def cancel(self) -> None:
        """Mark cancelled; the caller gives the nights back in the same transaction."""
        if self.status == ReservationStatus.CANCELLED:
            raise StateConflict(f"reservation {self.id} is already cancelled")
        self.status = ReservationStatus.CANCELLED
