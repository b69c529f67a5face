"""Domain errors. The web layer maps `kind` to an HTTP status; tasks log them."""

from __future__ import annotations


class GreenChannelError(Exception):
    kind = "invalid"

    def __init__(self, message: str, field: str | None = None, code: str | None = None,
                 keep_changes: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.kind
        # The refusal itself changed something worth keeping (an offer found expired is expired and
        # cascaded): the caller commits, then reports the error.
        self.keep_changes = keep_changes


class Invalid(GreenChannelError):
    """The request is well formed but breaks a rule (422)."""

    kind = "invalid"


class Malformed(GreenChannelError):
    """A field is missing or of the wrong type (400)."""

    kind = "malformed"


class NotFound(GreenChannelError):
    kind = "not_found"

    def __init__(self, what: str):
        super().__init__(f"{what} not found", code="not_found")


class Forbidden(GreenChannelError):
    kind = "forbidden"


class Conflict(GreenChannelError):
    """The thing is in a state that does not allow this, or someone else changed it first (409)."""

    kind = "conflict"
