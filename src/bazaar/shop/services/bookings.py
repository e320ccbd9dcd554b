"""Room reservations: book every night of a stay or none, cancel to give them back."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from bazaar.shop.domain import (
    InvalidInput,
    NotFound,
    NotHeld,
    Reservation,
    SoldOut,
    check_rooms,
    stay_nights,
)
from bazaar.shop.services.shop import Shop
from bazaar.shop.services.views import ReservationView

log = logging.getLogger("bazaar.shop")


def reservation_view(r: Reservation) -> ReservationView:
    assert r.id is not None
    return ReservationView(r.id, r.user_id, r.room_id, r.check_in, r.check_out, r.rooms,
                           r.price_cents, str(r.status))


def _check_horizon(span: tuple[date, date] | None, room_id: int, check_in: date,
                   check_out: date) -> None:
    """A stay outside the nights a room type has is not "sold out": it cannot be booked yet
    (or any more). Say so, and name the horizon."""
    if span is None:
        raise NotFound("room", room_id)
    first, last = span
    if check_in < first or check_out > last + timedelta(days=1):
        raise InvalidInput("check_in" if check_in < first else "check_out",
                           f"room {room_id} can be booked for the nights {first} to {last} "
                           f"(its booking horizon): check in on {first} or later, check out "
                           f"on {last + timedelta(days=1)} or earlier")


def reserve_room(shop: Shop, user_id: int, room_id: int, check_in: date, check_out: date,
                 rooms: int = 1) -> ReservationView:
    """Take ``rooms`` rooms of one type for each night of the stay; never double-book."""
    nights = stay_nights(check_in, check_out)
    check_rooms(rooms)

    def attempt() -> ReservationView:
        with shop.uow() as uow:
            # The write comes first: on SQLite a transaction that starts by writing never
            # has to upgrade a stale read snapshot.
            try:
                uow.stock.take_nights(room_id, nights, rooms)
            except SoldOut:
                _check_horizon(uow.rooms.bookable_span(room_id), room_id, check_in, check_out)
                raise
            room = uow.rooms.get(room_id)
            if room is None:
                raise NotFound("room", room_id)
            reservation = Reservation(user_id, room_id, check_in, check_out, rooms,
                                      room.price_cents * rooms * len(nights))
            uow.reservations.add(reservation)
            uow.commit()
            return reservation_view(reservation)

    view = shop.retry.run(attempt)
    shop.invalidation.room_changed(room_id)
    return view


def get_reservation(shop: Shop, user_id: int, reservation_id: int) -> ReservationView:
    with shop.uow() as uow:
        r = uow.reservations.get(reservation_id)
        if r is None or r.user_id != user_id:
            raise NotFound("reservation", reservation_id)
        return reservation_view(r)


def cancel_reservation(shop: Shop, user_id: int, reservation_id: int) -> ReservationView:
    """Cancel the caller's reservation and give its nights back, once."""

    def attempt() -> ReservationView:
        with shop.uow() as uow:
            r = uow.reservations.get(reservation_id)
            if r is None or r.user_id != user_id:
                raise NotFound("reservation", reservation_id)
            r.cancel()
            try:
                uow.stock.return_nights(r.room_id, r.nights, r.rooms)
            except NotHeld as exc:  # rolled back: the reservation stays booked
                log.error("reservation %s of user %s: %s", reservation_id, user_id, exc)
                raise
            uow.commit()
            return reservation_view(r)

    view = shop.retry.run(attempt)
    shop.invalidation.room_changed(view.room_id)
    return view
