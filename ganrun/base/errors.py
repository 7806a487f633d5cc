"""The one exception type for problems a user can fix by changing a command or a file."""

import sys
from typing import NoReturn


class UsageError(Exception):
    """A user-fixable problem; str(e) is one line that says what is wrong and what to do."""


class SetupError(UsageError):
    """A rule of a run's setup that spans its parts, broken (app/validate.py holds them): one line naming the keys
    to change."""


def exit_with(exc: UsageError) -> NoReturn:
    """How every command ends on a user error: one line on stderr, exit code 2, no traceback."""
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(2)
