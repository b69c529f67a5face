"""SMS segment counting: GSM-7 (160 / 153 per part) versus UCS-2 (70 / 67 per part)."""

import pytest

from alerts.notifying.sms import GSM7, UCS2, sms_size


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("a" * 160, GSM7, 160, 1),
    ("a" * 161, GSM7, 161, 2),
    ("a" * 306, GSM7, 306, 2),
    ("a" * 307, GSM7, 307, 3),
    ("€" * 80, GSM7, 160, 1),  # extension characters cost two septets each
    ("€" * 81, GSM7, 162, 2),
    ("台" * 70, UCS2, 70, 1),
    ("台" * 71, UCS2, 71, 2),
    ("台" * 134, UCS2, 134, 2),
    ("台" * 135, UCS2, 135, 3),
    ("Typhoon 台风", UCS2, 10, 1),  # one Chinese character turns the whole text into UCS-2
    ("ç" + "a" * 69, UCS2, 70, 1),  # lower-case c-cedilla is not in the GSM 03.38 alphabet
    ("é" + "a" * 159, GSM7, 160, 1),  # e-acute is
])
def test_encoding_and_segments(text, encoding, units, segments):
    size = sms_size(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)


def test_an_escape_pair_is_never_split_across_segments():
    # 152 septets then "€" (2 septets): 154 would fit 153 only by splitting the escape pair.
    text = "a" * 152 + "€" + "a" * 152
    size = sms_size(text)
    assert size.units == 306
    assert size.segments == 3  # 152 | 2 + 151 | 1: the pair moves whole to the second part


def test_a_surrogate_pair_is_never_split_across_segments():
    text = "台" * 66 + "🌀" + "台" * 66  # the emoji is two UTF-16 units
    size = sms_size(text)
    assert (size.encoding, size.units) == (UCS2, 134)
    assert size.segments == 3
