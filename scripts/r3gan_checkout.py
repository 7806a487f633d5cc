"""R3GAN's own code (github.com/brownvc/R3GAN, checked out in a folder) made importable, for the scripts that run it
beside ganrun: r3gan_reference.py and r3gan_pickles.py."""

import sys
import types
from pathlib import Path


def put_on_path(folder: str) -> None:
    """The checkout `folder` first on sys.path. Its torch_utils imports pkg_resources, which new setuptools no longer
    ships: packaging's parse_version, all it uses, stands in there."""
    sys.path.insert(0, str(Path(folder).resolve()))
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
