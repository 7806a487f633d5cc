"""The composed config, as `python -m ganrun` composes it."""

from hydra import compose, initialize_config_dir

from ganrun.app import resolvers, schema
from helpers.cli import REPO

CONF = REPO / "conf"


def compose_with(*overrides: str):
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))
