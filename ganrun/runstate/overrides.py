"""Hydra override strings as a run records them (`.hydra/overrides.yaml`, a checkpoint's "overrides")."""


def split_override(override) -> tuple[str, str | None]:
    """An override's key, without `+`, `++` or `~`, and its value (None when it has no `=`, as in `~key`)."""
    key, sep, value = str(override).lstrip("+~").partition("=")
    return key, (value if sep else None)


def short_value(value: str) -> str:
    """A value as a folder name or a label shows it: a float an Optuna search drew (4.430375245218266) to 4
    significant digits (4.43); anything else as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return f"{number:.4g}" if "." in value and len(value) > 8 else value
