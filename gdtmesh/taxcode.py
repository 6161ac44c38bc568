"""Vietnamese tax codes (mã số thuế, MST): validation and generation.

Three shapes are in use as portal usernames and invoice party codes:

- an enterprise code: 10 digits, the 10th a check digit over the first nine;
- a dependent unit (branch) code: an enterprise code, ``-`` and a 3-digit unit number (001-999);
- a personal identification number (CCCD), 12 digits, used as the tax code of individuals since
  July 2025: a 3-digit province code, a century/sex digit, two birth-year digits, six digits.
"""

from __future__ import annotations

import random
import re

# Weights of the first nine digits in the official check-digit formula.
_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
# The three shapes as one pattern (no check digit): for parsing names that embed a tax code.
SHAPE = r"[0-9]{12}|[0-9]{10}(?:-[0-9]{3})?"
_ENTERPRISE = re.compile(r"\d{10}")
_BRANCH = re.compile(r"(\d{10})-(\d{3})")
_PERSONAL = re.compile(r"\d{12}")
_MAX_PERSONAL_PROVINCE = 96

# Province prefixes of enterprise codes, weighted towards the big economic centres.
_PROVINCE_PREFIXES = (
    "01",
    "01",
    "01",
    "03",
    "03",
    "03",
    "02",
    "04",
    "23",
    "25",
    "26",
    "28",
    "31",
    "36",
    "37",
    "38",
    "40",
    "42",
    "44",
    "46",
    "47",
    "48",
    "51",
    "56",
)


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine leading digits, or None when no valid code starts with them."""
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("check_digit needs exactly nine digits")
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _WEIGHTS, strict=True))
    digit = 10 - total % 11
    return digit if digit < 10 else None


def _is_valid_enterprise(code: str) -> bool:
    return (
        _ENTERPRISE.fullmatch(code) is not None
        and check_digit(code[:9]) == int(code[9])
        and code[:2] != "00"
    )


def is_valid_tax_code(value: str) -> bool:
    """True for a 10-digit code with a correct check digit, such a code with a branch suffix
    ``-001``..``-999``, or a 12-digit personal identification number."""
    if not isinstance(value, str):
        return False
    if _PERSONAL.fullmatch(value):
        return 1 <= int(value[:3]) <= _MAX_PERSONAL_PROVINCE
    branch = _BRANCH.fullmatch(value)
    if branch:
        return _is_valid_enterprise(branch.group(1)) and branch.group(2) != "000"
    return _is_valid_enterprise(value)


def make_tax_code(rng: random.Random, branch: bool = False, province: str | None = None) -> str:
    """A random valid enterprise code (with a branch suffix when ``branch``); ``province`` fixes
    the two leading digits (the province of registration)."""
    if province is not None and not (
        len(province) == 2 and province.isdigit() and province != "00"
    ):
        raise ValueError("province must be two digits from 01 to 99")
    while True:
        first_nine = (province or rng.choice(_PROVINCE_PREFIXES)) + f"{rng.randrange(10**7):07d}"
        digit = check_digit(first_nine)
        if digit is not None:
            break
    code = f"{first_nine}{digit}"
    if branch:
        code += f"-{rng.randint(1, 60):03d}"
    return code


def make_personal_tax_code(rng: random.Random) -> str:
    """A random well-formed 12-digit personal identification number."""
    province = rng.choice((1, 1, 1, 79, 79, 31, 48, 92, 27, 30, 33, 38, 40, 52, 75))
    century_sex = rng.choice("0123")
    year = rng.randrange(100) if century_sex in "01" else rng.randrange(8)
    return f"{province:03d}{century_sex}{year:02d}{rng.randrange(10**6):06d}"
