"""The one reading of an amount (store.money.parse_amount), as every entry point uses it."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenchannel import inputs
from greenchannel.errors import Malformed
from greenchannel.requests import ClaimChanges, PaymentRequest
from store.money import MAX_AMOUNT, AmountError, format_amount, parse_amount

REFUSED = ["99999999999999999999999999999.00", "1e400", "1E5", "1_000", "１００", "١٠٠", " 100 ", "100\n", "-5", "+5",
           "NaN", "Infinity", "sNaN", "", ".5", "5.", "1,000", "0x10", "5000.001", "0", "0.00", "100000000000.00",
           Decimal("1E+999"), Decimal("NaN"), Decimal("-1"), Decimal("0.001"), 10**400, -1, 0, 1.5, True, None,
           [], {}]


@pytest.mark.parametrize("value", REFUSED, ids=lambda v: f"{type(v).__name__}:{str(v)[:24]}")
def test_a_value_that_is_not_a_plain_positive_amount_is_refused_with_a_reason(value):
    with pytest.raises(AmountError) as refused:
        parse_amount(value)
    assert str(refused.value), f"{value!r} is refused without saying why"


@given(st.integers(min_value=1, max_value=int(MAX_AMOUNT * 100)))
def test_every_amount_in_range_reads_back_exactly_as_text_and_as_a_json_number(cents):
    written = f"{cents // 100}.{cents % 100:02d}"
    assert parse_amount(written) == Decimal(cents) / 100, f"{written} as text"
    assert str(parse_amount(Decimal(written))) == written, f"{written} as a JSON number read as Decimal"


def test_the_upper_bound_is_inclusive_and_zero_only_where_allowed():
    assert parse_amount("99999999999.99") == MAX_AMOUNT
    assert parse_amount("0", allow_zero=True) == Decimal("0.00")
    assert parse_amount(300) == Decimal("300.00"), 'expected parse_amount(300) == Decimal("300.00")'
    assert parse_amount("12.3") == Decimal("12.30"), 'expected parse_amount("12.3") == Decimal("12.30")'


def test_the_field_parser_names_the_field_and_formats_the_bound():
    with pytest.raises(Malformed) as refused:
        inputs.parse(ClaimChanges, {"estimate": "1e400"})
    assert refused.value.field == "estimate", f"the refusal names the estimate: {refused.value.field}"
    assert refused.value.message.startswith("estimate "), f"the message starts with the field: {refused.value.message}"
    with pytest.raises(Malformed) as too_big:
        inputs.parse(PaymentRequest, {"amount": "99999999999999999999999999999.00"})
    assert too_big.value.field == "amount", f"the refusal names the amount: {too_big.value.field}"
    assert "99,999,999,999.99" in too_big.value.message, too_big.value.message
    assert format_amount(Decimal("50000")) == "50,000.00 CNY"
