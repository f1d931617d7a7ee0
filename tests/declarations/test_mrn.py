from datetime import UTC, datetime

from customhouse.declarations.mrn import ALPHABET, is_valid_mrn, new_mrn
from customhouse.declarations.schemas import Kind


def test_mrn_shape_and_check_character():
    mrn = new_mrn(country="KR", kind=Kind.IMPORT, at=datetime(2026, 3, 1, tzinfo=UTC))
    assert len(mrn) == 18 and mrn.startswith("26KR") and mrn[16] == "J"
    assert is_valid_mrn(mrn)
    assert is_valid_mrn("26KR4F7K2M9QX0A1J0")  # ISO 6346 check, as tested on real container numbers
    assert not is_valid_mrn("26KR4F7K2M9QX0A1J1")


def test_the_check_character_catches_most_mistyped_characters():
    """ISO 6346 (mod 11, then 10) misses some substitutions; it still catches the large majority."""
    mrn = "26KR4F7K2M9QX0A1J0"
    typos = [mrn[:i] + char + mrn[i + 1 :] for i in range(4, 16) for char in ALPHABET if char != mrn[i]]
    caught = sum(not is_valid_mrn(typo) for typo in typos)
    assert caught / len(typos) > 0.8


def test_mrns_are_unique_in_practice():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert len({new_mrn(country="KR", kind=Kind.EXPORT, at=at) for _ in range(10_000)}) == 10_000
