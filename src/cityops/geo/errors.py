"""Errors raised while reading or building a city pack."""

from __future__ import annotations


class CityPackError(ValueError):
    """A city pack file is missing or wrong; the message names the file and the problem."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem
