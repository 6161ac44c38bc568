"""Tax codes: the official check digit, branch and personal forms, generation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gdtmesh.taxcode import (
    check_digit,
    is_valid_tax_code,
    make_personal_tax_code,
    make_tax_code,
)

# Codes from the anonymised portal samples (synthetic, with valid check digits).
SAMPLE_CODES = [
    "0102431848",
    "0188502671",
    "0397720137",
    "4490601660",
    "2379837094",
    "0196686888-048",
    "0320070711-003",
]


@pytest.mark.parametrize("code", SAMPLE_CODES)
def test_sample_codes_are_valid(code: str) -> None:
    assert is_valid_tax_code(code)


def test_check_digit_follows_the_official_weights() -> None:
    # 0*31 + 1*29 + 0*23 + 2*19 + 4*17 + 3*13 + 1*7 + 8*5 + 4*3 = 233; 10 - 233 % 11 = 8
    assert check_digit("010243184") == 8


@pytest.mark.parametrize("code", SAMPLE_CODES[:5])
def test_any_other_last_digit_is_invalid(code: str) -> None:
    for digit in "0123456789":
        if digit != code[9]:
            assert not is_valid_tax_code(code[:9] + digit)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "010243184",  # 9 digits
        "01024318480",  # 11 digits
        "010243184X",
        "0102431848-000",  # unit 000 does not exist
        "0102431848-01",
        "0102431849-001",  # bad check digit in front of a branch suffix
        "0000000000",  # no province 00
        " 0102431848",
        "000099012345",  # personal id with province 000
        "097099012345",  # personal id with a province code above 096
        "01234567890123",
    ],
)
def test_malformed_codes_are_rejected(value: str) -> None:
    assert not is_valid_tax_code(value)


def test_non_strings_are_rejected() -> None:
    assert not is_valid_tax_code(102431848)  # type: ignore[arg-type]
    assert not is_valid_tax_code(None)  # type: ignore[arg-type]


def test_personal_identification_numbers_are_valid() -> None:
    assert is_valid_tax_code("001099012345")
    assert is_valid_tax_code("079203000123")


def test_check_digit_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        check_digit("12345678")
    with pytest.raises(ValueError):
        check_digit("12345678a")


@given(st.from_regex(r"0[1-9][0-9]{7}", fullmatch=True))
def test_every_computable_check_digit_makes_a_valid_code(first_nine: str) -> None:
    digit = check_digit(first_nine)
    if digit is None:
        assert not any(is_valid_tax_code(first_nine + str(d)) for d in range(10))
    else:
        assert is_valid_tax_code(first_nine + str(digit))


def test_generated_codes_are_valid_and_deterministic() -> None:
    codes = [make_tax_code(random.Random(seed)) for seed in range(500)]
    assert all(is_valid_tax_code(code) and len(code) == 10 for code in codes)
    assert codes == [make_tax_code(random.Random(seed)) for seed in range(500)]
    assert len(set(codes)) > 490


def test_generated_branch_codes() -> None:
    rng = random.Random(3)
    for _ in range(200):
        code = make_tax_code(rng, branch=True)
        assert len(code) == 14 and code[10] == "-" and is_valid_tax_code(code)


def test_province_prefix_is_respected() -> None:
    rng = random.Random(4)
    assert all(make_tax_code(rng, province="03").startswith("03") for _ in range(100))
    with pytest.raises(ValueError):
        make_tax_code(rng, province="3")
    with pytest.raises(ValueError):
        make_tax_code(rng, province="00")


def test_generated_personal_codes_are_valid() -> None:
    rng = random.Random(5)
    codes = [make_personal_tax_code(rng) for _ in range(300)]
    assert all(len(code) == 12 and is_valid_tax_code(code) for code in codes)
