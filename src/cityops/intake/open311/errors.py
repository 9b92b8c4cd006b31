"""Open311 errors: the spec answers an array of {code, description} with 400/403/404."""

from __future__ import annotations

from cityops.errors import CityopsError, Conflict, Forbidden, NotFound, Unauthorized


class Open311Error(Exception):
    """One spec error; `status` is both the HTTP status and the error code."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def __reduce__(self) -> tuple[type[Open311Error], tuple[int, str]]:
        return type(self), (self.status, self.description)  # it crosses from the write process


def bad_request(description: str) -> Open311Error:
    return Open311Error(400, description)


def from_domain(exc: CityopsError) -> Open311Error:
    """A domain error as the spec's error; both languages, since clients show it to people."""
    text = exc.message_en if exc.message_zh == exc.message_en else f"{exc.message_zh} / {exc.message_en}"
    if isinstance(exc, NotFound):
        return Open311Error(404, text)
    if isinstance(exc, Forbidden | Unauthorized):
        return Open311Error(403, text)
    if isinstance(exc, Conflict):
        return Open311Error(409, text)
    if exc.status == 503:
        return Open311Error(503, text)  # the server's own trouble: the client should retry
    return Open311Error(400, text)  # invalid input and illegal workflow steps alike
