"""Movement reference numbers, shaped as the EU's: 18 characters, unique, with a check character.

    26 KR 4F7K2M9QX0A1 J 7
    year, country of the office, 12 random capitals and digits, procedure letter, ISO 6346 check digit

The 12 characters are random (36^12 values): no counter to serialise acceptances on, and the unique
constraint on the column catches the rare collision, which the caller retries.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime

from customhouse.declarations.schemas import Kind
from customhouse.reference.iso6346 import check_digit

ALPHABET = string.ascii_uppercase + string.digits
PROCEDURE_LETTER = {Kind.EXPORT: "A", Kind.TRANSIT: "F", Kind.IMPORT: "J"}
PATTERN = re.compile(r"[0-9]{2}[A-Z]{2}[A-Z0-9]{12}[A-Z][0-9]")


def new_mrn(*, country: str, kind: Kind, at: datetime) -> str:
    number = secrets.randbelow(36**12)
    unique = "".join(ALPHABET[(number // 36**position) % 36] for position in range(12))
    body = f"{at:%y}{country}{unique}{PROCEDURE_LETTER[kind]}"
    return body + check_digit(body)


def is_valid_mrn(value: str) -> bool:
    return bool(PATTERN.fullmatch(value)) and check_digit(value[:17]) == value[17]
