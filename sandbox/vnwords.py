"""Amounts in Vietnamese words (`tgtttbchu`), in the spelling variants invoice software uses."""

from __future__ import annotations

from dataclasses import dataclass

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


@dataclass(frozen=True)
class WordStyle:
    """How one invoice software spells amounts: "nghìn" or "ngàn", "linh" or "lẻ" for a zero
    tens digit, the ending ("đồng", "đồng chẵn", "đồng.", ...), the case of the first letter and
    a final 1 after a tens digit ("mốt", or "một" as some software writes it)."""

    thousand: str = "nghìn"
    zero_tens: str = "linh"
    ending: str = " đồng"
    capitalised: bool = True
    one_after_tens: str = "mốt"


def _triple(number: int, full: bool, style: WordStyle) -> list[str]:
    """Words for 0 < number < 1000; ``full`` forces "không trăm" / "linh" after a higher group."""
    hundreds, tens, units = number // 100, number // 10 % 10, number % 10
    words: list[str] = []
    if hundreds or full:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words.append(style.zero_tens)
    elif tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units:
        if units == 1 and tens > 1:
            words.append(style.one_after_tens)
        elif units == 5 and tens > 0:
            words.append("lăm")
        else:
            words.append(_DIGITS[units])
    return words


def _below_billion_groups(number: int, style: WordStyle, full: bool) -> list[str]:
    """Words for number < 10**9 in groups of thousands."""
    millions, thousands, rest = number // 10**6, number // 1000 % 1000, number % 1000
    words: list[str] = []
    for value, scale in ((millions, "triệu"), (thousands, style.thousand), (rest, "")):
        if value:
            words += _triple(value, full or bool(words), style)
            if scale:
                words.append(scale)
    return words


def number_in_words(number: int, style: WordStyle = WordStyle()) -> str:
    """A non-negative whole number in Vietnamese words, without the currency."""
    if number < 0:
        raise ValueError("amounts in words need a non-negative number")
    if number == 0:
        return _DIGITS[0]
    words: list[str] = []
    billions, rest = divmod(number, 10**9)
    if billions:
        words += [*_below_billion_groups(billions, style, False), "tỷ"]
    words += _below_billion_groups(rest, style, bool(billions))
    return " ".join(words)


def amount_in_words(amount: float, style: WordStyle = WordStyle()) -> str:
    """An amount of đồng in words as printed on invoices, e.g. "Ba triệu bảy trăm đồng chẵn"."""
    words = number_in_words(round(amount), style) + style.ending
    return words[0].upper() + words[1:] if style.capitalised else words


def java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` prints it (the QR payload of the portal uses it):
    ``3791700.0`` below 10**7, ``3.41055E7`` from 10**7 on."""
    if value == 0:
        return "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(float(value))
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exponent = f"{value:.16e}".split("e")
    digits = repr(float(mantissa)).rstrip("0")
    if digits.endswith("."):
        digits += "0"
    return f"{digits}E{int(exponent)}"
