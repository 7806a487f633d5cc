"""The one exception type for problems a user can fix by changing a command or a file."""


class UsageError(Exception):
    """A user-fixable problem; str(e) is one line that says what is wrong and what to do."""
