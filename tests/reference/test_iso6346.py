from hypothesis import given
from hypothesis import strategies as st

from customhouse.reference.iso6346 import check_digit, is_valid_container_number


def test_known_container_numbers():
    # Published examples: BIC's own sample, and a Maersk container.
    assert is_valid_container_number("CSQU3054383")
    assert is_valid_container_number("MSKU9070323")
    assert not is_valid_container_number("CSQU3054384")  # wrong check digit
    assert not is_valid_container_number("CSQX3054383")  # category must be U, J or Z
    assert not is_valid_container_number("CSQU305438")  # too short


@given(
    owner=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
    serial=st.integers(0, 999_999),
    wrong=st.integers(1, 9),
)
def test_exactly_one_check_digit_fits(owner, serial, wrong):
    body = f"{owner}U{serial:06d}"
    right = check_digit(body)
    assert is_valid_container_number(body + right)
    assert not is_valid_container_number(body + str((int(right) + wrong) % 10))
