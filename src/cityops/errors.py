"""Errors a person can act on: each carries a zh-CN and an English message and an HTTP status."""

from __future__ import annotations


class CityopsError(Exception):
    """Base error; `status` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message_en: str, message_zh: str = "") -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh or message_en

    def __reduce__(self) -> tuple[type[CityopsError], tuple[str, str]]:
        # Pickled across the write process: keep both languages (the default keeps only args).
        return type(self), (self.message_en, self.message_zh)

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message_en, "message_zh": self.message_zh}


class InvalidInput(CityopsError):
    status = 422
    code = "invalid_input"


class NotFound(CityopsError):
    status = 404
    code = "not_found"


class Forbidden(CityopsError):
    status = 403
    code = "forbidden"


class Unauthorized(CityopsError):
    status = 401
    code = "unauthorized"


class IllegalTransition(CityopsError):
    """The workflow refuses this action in the case's current state; nothing changed."""

    status = 409
    code = "illegal_transition"


class Conflict(CityopsError):
    status = 409
    code = "conflict"


class StorageUnavailable(CityopsError):
    """The database cannot be written now (read-only, disk full, I/O error): nothing was
    stored; the client should retry after Retry-After. Clears by itself with the fault."""

    status = 503
    code = "storage_unavailable"
