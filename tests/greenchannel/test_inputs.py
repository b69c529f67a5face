"""Request fields of the green channel: whole numbers stay inside what the database can hold."""

import pytest
from pydantic import BaseModel, ValidationError

from greenchannel.inputs import INT32_MAX, Whole


class JobRequest(BaseModel):
    claim_id: Whole(1) | None = None


@pytest.mark.parametrize("value", [INT32_MAX + 1, 47339288593735024640, 0, -3])
def test_an_id_outside_the_integer_column_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as refused:
        JobRequest(claim_id=value)
    locations = [error["loc"] for error in refused.value.errors()]
    assert ("claim_id",) in locations, f"the refusal of {value} should name claim_id, got {locations}"


def test_the_largest_id_the_database_holds_is_accepted():
    assert JobRequest(claim_id=INT32_MAX).claim_id == INT32_MAX, "2**31 - 1 is a valid INTEGER id"
