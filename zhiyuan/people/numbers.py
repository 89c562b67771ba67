"""The unified volunteer number: 11 random digits and a Luhn check digit."""

from __future__ import annotations

import random
import secrets

from stdnum import luhn


def new_volunteer_number(rng: random.Random | None = None) -> str:
    """A fresh number. ``rng`` is for the deterministic demo only; real numbers use ``secrets``."""
    pick = rng.randrange if rng is not None else secrets.randbelow
    # The first digit is never 0 so the number keeps its length in spreadsheets.
    body = str(pick(9) + 1) + "".join(str(pick(10)) for _ in range(10))
    return body + luhn.calc_check_digit(body)


def is_valid_volunteer_number(number: str) -> bool:
    return len(number) == 12 and number.isdigit() and luhn.is_valid(number)
