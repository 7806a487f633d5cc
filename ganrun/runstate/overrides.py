"""Hydra override strings as a run records them (`.hydra/overrides.yaml`, a checkpoint's "overrides")."""


def split_override(override) -> tuple[str, str | None]:
    """An override's key, without `+`, `++` or `~`, and its value (None when it has no `=`, as in `~key`)."""
    key, sep, value = str(override).lstrip("+~").partition("=")
    return key, (value if sep else None)
