"""One client process for the oversell test: waits for the start signal, then tries to buy
one unit and book one room, following 'retry' answers, and prints what it got as JSON.

Usage: python oversell_worker.py URL STRATEGY USER_ID PRODUCT_ID ROOM_ID CHECK_IN GO_FILE
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bazaar import bootstrap, storage
from bazaar.auth import Argon2Params, Passwords
from bazaar.config import Settings
from bazaar.shop.domain import LineRequest, RetryableConflict, SoldOut
from bazaar.shop.services import ConflictRetry, bookings, orders


def attempt(fn: object) -> dict[str, int | str]:
    retries = 0
    while True:
        try:
            fn()  # type: ignore[operator]
            return {"outcome": "ok", "retries": retries}
        except SoldOut:
            return {"outcome": "sold-out", "retries": retries}
        except RetryableConflict:
            retries += 1  # the client's answer to a 409 "retry"
            time.sleep(0.001 * min(retries, 20))


def main() -> None:
    url, strategy, uid, pid, rid, check_in, go = sys.argv[1:8]
    engine = storage.make_engine(url, storage.EngineOptions(pool_size=2))
    shop = bootstrap.build_shop(Settings(reservation_strategy=strategy), engine,  # type: ignore[arg-type]
                                hasher=Passwords(Argon2Params(memory_kib=1024, time_cost=1)),
                                retry=ConflictRetry(attempts=3))
    start = date.fromisoformat(check_in)
    engine.connect().close()  # connect before the race starts
    while not Path(go).exists():
        time.sleep(0.005)
    product = attempt(lambda: orders.place_order(shop, int(uid), [LineRequest(int(pid), 1)]))
    room = attempt(lambda: bookings.reserve_room(shop, int(uid), int(rid), start,
                                                 start + timedelta(days=2), 1))
    print(json.dumps({"product": product, "room": room}))
    engine.dispose()


if __name__ == "__main__":
    main()
