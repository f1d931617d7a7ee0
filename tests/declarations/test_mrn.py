from datetime import UTC, datetime

from customhouse.declarations.mrn import is_valid_mrn, new_mrn
from customhouse.declarations.schemas import Kind


def test_mrn_shape_and_check_character():
    mrn = new_mrn(country="KR", kind=Kind.IMPORT, at=datetime(2026, 3, 1, tzinfo=UTC))
    assert len(mrn) == 18 and mrn.startswith("26KR") and mrn[16] == "J"
    assert is_valid_mrn(mrn)
    tampered = mrn[:5] + ("A" if mrn[5] != "A" else "B") + mrn[6:]
    assert not is_valid_mrn(tampered)


def test_mrns_are_unique_in_practice():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert len({new_mrn(country="KR", kind=Kind.EXPORT, at=at) for _ in range(10_000)}) == 10_000
