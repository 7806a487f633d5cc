"""Spec of init=PATH's refusal when the checkpoint's layers do not fit: it names the settings that make them differ,
as the keys a user types, and what to add (runstate/origin.py: settings_apart)."""

from omegaconf import OmegaConf

from ganrun.build import MODEL_META_KEYS
from ganrun.runstate import origin
from helpers.configs import compose_with


def settings_apart(now, saved: dict) -> str:
    """What the refusal says of this run's composed config `now` against a checkpoint's stored `saved`."""
    theirs = {k: v for k, v in (saved.get("model") or {}).items() if k not in MODEL_META_KEYS}
    if not theirs:
        return ""
    return origin.settings_apart(
        theirs, OmegaConf.to_container(now.model, resolve=True), OmegaConf.to_container(now.model)
    )


def saved(*overrides: str) -> dict:
    """The config a checkpoint stores: resolved, plain containers."""
    return OmegaConf.to_container(compose_with(*overrides), resolve=True)


def test_a_model_sized_from_the_data_names_the_data_sets_keys():
    trained = saved("dataset=fashion_mnist")  # dcgan at 28×28, one channel
    now = compose_with("dataset=folder", "dataset.root=photos")  # 64×64 RGB
    assert settings_apart(now, trained) == (
        "it was trained with dataset.image_size=28, dataset.channels=1 where this run has dataset.image_size=64, "
        "dataset.channels=3; "
        "add dataset.image_size=28 dataset.channels=1 to train the same networks"
    )


def test_another_family_width_or_conditioning_is_named_as_typed():
    trained = saved("model=dcgan28", "model.hidden=16")
    assert settings_apart(compose_with("model=dcgan28"), trained) == (
        "it was trained with model.hidden=16 where this run has model.hidden=64; add model.hidden=16 to train the "
        "same networks"
    )
    assert settings_apart(compose_with("model=upsample"), trained) == (  # keys the other family lacks: its own
        "it was trained with model=dcgan28, model.z_dim=64, model.hidden=16 where this run has model=upsample, "
        "model.z_dim=100; add model=dcgan28 model.z_dim=64 model.hidden=16 to train the same networks"
    )
    conditional = saved("dataset=fashion_mnist", "model.conditional=true", "model.num_classes=10")
    now = compose_with("dataset=fashion_mnist", "model.conditional=true", "model.num_classes=3")
    assert settings_apart(now, conditional) == (
        "it was trained with model.num_classes=10 where this run has model.num_classes=3"
    )
    unconditional = compose_with("dataset=fashion_mnist")
    assert settings_apart(unconditional, conditional) == (
        "it was trained with model.conditional=true, model.num_classes=10 where this run has "
        "model.conditional=false, model.num_classes=null; "
        "add model.conditional=true to train the same networks"
    )


def test_a_checkpoint_without_a_config_says_nothing_more(config):
    assert settings_apart(config, {}) == ""
