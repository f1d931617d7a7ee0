"""Tariff files: every error names the file, line and field; the demo tariff is valid."""

from __future__ import annotations

import pytest

from customhouse.tariff import schemas
from customhouse.tariff.schemas import TariffFileError
from tests.tariff.conftest import DEMO_TEXT, SMALL


def errors_of(text: str) -> list[str]:
    with pytest.raises(TariffFileError) as caught:
        schemas.parse(text, file="bad.yaml")
    return [str(error) for error in caught.value.errors]


def test_the_demo_tariff_and_the_small_one_are_valid():
    assert schemas.parse(DEMO_TEXT).country == "KR"
    assert [line.hs for line in schemas.parse(SMALL).lines] == ["*", "04"]


def test_every_error_names_file_line_and_field():
    text = SMALL.replace("valid_from: 2022-01-01}", "}", 1).replace(
        "countries: [DE, FR]", "countries: [DE, XX]"
    )
    text = text.replace('  - hs: "04"', '  - hs: "0499"')
    assert errors_of(text) == [
        "bad.yaml:5: groups[0].countries[1]: 'XX' is not an ISO 3166-1 alpha-2 country code, e.g. 'CN'",
        "bad.yaml:12: lines[1].hs: '0499' is not in the HS 2022 nomenclature",
        "bad.yaml:14: lines[1].measures[0].valid_from: is required",
    ]


def test_cross_record_errors_name_their_line():
    text = SMALL.replace("group: FTA-A", "group: FTA-B").replace("id: TQ-04", "id: MFN-04")
    assert errors_of(text) == [
        "bad.yaml:15: lines[1].measures[1].group: no group 'FTA-B' in `groups`",
        "bad.yaml:16: lines[1].measures[2].id: measure id 'MFN-04' is given twice",
    ]


def test_overlapping_measures_of_one_slot_are_refused():
    extra = "      - {id: MFN-04B, type: third_country, ad_valorem: 20, valid_from: 2025-01-01}\n"
    text = SMALL.replace("      - {id: FTA-04", extra + "      - {id: FTA-04")
    assert errors_of(text) == [
        "bad.yaml:15: lines[1].measures[1].valid_from: overlaps measure 'MFN-04' of the same slot"
    ]


def test_a_duty_needs_exactly_one_form_and_sane_numbers():
    text = SMALL.replace("ad_valorem: 30,", "ad_valorem: -3, specific: {amount: 5, unit: ZZZ},")
    found = errors_of(text)
    assert (
        found[0] == "bad.yaml:14: lines[1].measures[0].ad_valorem: Input should be greater than or equal to 0"
    )
    assert found[1].startswith("bad.yaml:14: lines[1].measures[0].specific.unit: 'ZZZ' is not a unit")


def test_broken_yaml_names_its_line():
    assert errors_of(SMALL.replace("ad_valorem: 30,", "ad_valorem: [30,"))[0].startswith(
        "bad.yaml:14: (file): not YAML"
    )


def test_rates_are_read_as_decimals_not_floats():
    parsed = schemas.parse(SMALL.replace("ad_valorem: 30,", "ad_valorem: 0.1,"))
    assert str(parsed.lines[1].measures[0].ad_valorem) == "0.1"
