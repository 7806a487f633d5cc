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


PATH_KEYS = ("resume", "init.path")  # keys whose value is a path, which may hold a '='
SHORTHANDS = {"init": "init.path"}  # init=PATH sets init.path (init.strict and init.optimizers beside it)


def quote_resume_path(argv: list[str]) -> list[str]:
    """argv with `init=PATH` as `init.path=PATH`, and a `resume=PATH` or `init=PATH` whose path holds a `=` (a sweep
    job's folder, 3_lambda_gp=10) quoted for Hydra's override grammar, so that the path works as typed."""
    quoted = []
    for arg in argv:
        key, value = split_override(arg)
        if key in SHORTHANDS and value is not None and not arg.startswith(("+", "~")):
            key, arg = SHORTHANDS[key], f"{SHORTHANDS[key]}={value}"
        if key in PATH_KEYS and value and "=" in value and not set("'\"\\") & set(value):
            arg = f"{arg[: len(arg) - len(value)]}'{value}'"
        quoted.append(arg)
    return quoted
