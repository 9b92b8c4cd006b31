"""Catalogue errors: each message is bilingual (zh-CN / English) and says what to fix."""

from __future__ import annotations

_KIND_ZH = {"matter": "管理事项代码", "component": "管理部件代码", "department": "部门类型"}
_KIND_EN = {"matter": "matter code", "component": "component code", "department": "department type"}


class CatalogueError(ValueError):
    """Invalid catalogue or override input; `message_zh` and `message_en` are both set."""

    def __init__(self, message_en: str, message_zh: str = "") -> None:
        self.message_en = message_en
        self.message_zh = message_zh or message_en
        super().__init__(f"{self.message_zh} / {self.message_en}")


class UnknownCode(KeyError):
    """A code (or department key) that the catalogue does not hold."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(code)
        self.kind = kind
        self.code = code
        self.message_zh = f"未知的{_KIND_ZH.get(kind, kind)} '{code}'"
        self.message_en = f"unknown {_KIND_EN.get(kind, kind)} '{code}'"

    def __str__(self) -> str:  # KeyError would repr() the key; people need the sentence
        return f"{self.message_zh} / {self.message_en}"
