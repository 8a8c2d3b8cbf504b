"""User-facing errors: a message and a hint, never a traceback."""

from __future__ import annotations


class CurateError(Exception):
    """An error caused by the user's input or environment, shown as one clear message.

    ``exit_code`` follows the CLI convention: 2 for usage and configuration mistakes,
    1 for failures while running.
    """

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # noqa: ANN204 - keep the hint when errors cross process boundaries
        return (self.__class__, (self.message, self.hint))


class ConfigError(CurateError):
    """The configuration is invalid; nothing was read or written."""

    exit_code = 2


class InputError(CurateError):
    """An input is missing or malformed (strict mode stops on the first bad record)."""

    exit_code = 1


class MissingInputError(InputError):
    """An input path or glob matches nothing; found before any data is read."""

    exit_code = 2


class StageError(CurateError):
    """A stage failed on a shard; the full traceback is in the run's logs folder."""

    exit_code = 1
