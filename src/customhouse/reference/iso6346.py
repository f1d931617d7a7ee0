"""The ISO 6346 check digit: container numbers carry it, and so do MRNs (the EU computes theirs alike)."""

from __future__ import annotations

import re
import string

# Letters take the values 10..38 skipping multiples of 11 (ISO 6346 Annex A); digits are themselves.
_VALUES: dict[str, int] = {str(d): d for d in range(10)}
_value = 10
for _letter in string.ascii_uppercase:
    if _value % 11 == 0:
        _value += 1
    _VALUES[_letter] = _value
    _value += 1

CONTAINER_NUMBER = re.compile(r"^[A-Z]{3}[UJZ][0-9]{7}$")


def check_digit(body: str) -> str:
    """The check character for `body` (upper-case letters and digits)."""
    total = sum(_VALUES[char] * (1 << position) for position, char in enumerate(body))
    return str(total % 11 % 10)


def is_valid_container_number(number: str) -> bool:
    """Owner code (3 letters), category (U, J or Z), serial (6 digits) and a correct check digit."""
    return bool(CONTAINER_NUMBER.match(number)) and check_digit(number[:10]) == number[10]
