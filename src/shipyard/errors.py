"""Errors a user can cause.

Every :class:`ShipyardError` renders as one line: what went wrong, naming the
file, key or column, followed by a hint that says what would fix it. The CLI
prints that line without a traceback and exits with status 2; bugs stay
ordinary exceptions.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """A problem in the user's input, reported as one line with a hint.

    Parameters
    ----------
    message : str
        What went wrong, naming the file, key or column.
    hint : str, optional
        What would fix it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Return the message and hint as a single line of text."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" (hint: {' '.join(self.hint.split())})"
        return text


class RecipeError(ShipyardError):
    """The recipe file is missing, not YAML, or does not match the schema."""


class DataError(ShipyardError):
    """The data cannot be loaded or cannot be used for the task."""


class BundleError(ShipyardError):
    """A bundle is missing, incomplete or was modified after export."""


class InputError(ShipyardError):
    """Records given for prediction do not match the bundle's input schema."""
