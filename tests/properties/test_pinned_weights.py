"""Spec: an existing configuration trains the weights it trained before.

Short real runs of several losses, models, regularizers, augmentations and a conditional model, each through the
CLI with portable numerics (tests/helpers/pinned_runs.py), must end with the checkpoint hashes recorded here: a
refactor, a new loss or a new option that changes what an existing configuration trains fails this test. The
hashes were made with torch 2.14.1 on CPU; only an issue that asks for other weights may change them (print them
with `python tests/helpers/pinned_runs.py`).
"""

import pytest
import torch

from helpers.pinned_runs import CONFIGS, train, write_data

TORCH = "2.14.1"
PINNED = {
    "wgan_gp_dcgan28": "137d57924a0a22b9",
    "bce_dcgan": "8beacdd1517b2df0",
    "wgan_clip_rmsprop": "2bbdcc259744f6c9",
    "wgan_div": "74be0071a6ef1eaa",
    "hinge_sn_diffaugment": "2d430b32e3d2da87",
    "lsgan_lazy_r1": "6adebe7c577e3c62",
    "hinge_adaptive_lecam": "feee4c74e3f43ebd",
    "conditional_hinge": "23eed1f5c90a11dd",
    "resnet_wgan_gp": "e7655fd72d36fca8",
    "upsample_bce": "b208bb5687342f2d",
    "rpgan_r1r2_dcgan": "d8e04c58265a388a",
    "ragan_lazy_r1r2_conditional": "e701707b3f51621b",
    "r3gan_rpgan_schedules": "d3e8f80748213506",
    "r3gan_ada_scheduled_cifar": "b9338f01275d609d",
    "r3gan_small_preset": "85ec479159e30437",
    "hinge_ada_adaptive": "b6fde741dbc9bd83",
    "wgan_gp_xflip_accumulate": "084d6f6a19cda630",
    "conditional_hinge_freeze_critic": "8d1d08af4e0dc8e8",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not torch.__version__.startswith(TORCH),
        reason=f"the hashes were made with torch {TORCH}; other releases round differently",
    ),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pinned-data"))


def test_every_configuration_is_pinned():
    assert set(PINNED) == set(CONFIGS)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_configuration_trains_the_weights_it_trained_before(name, data, tmp_path):
    assert train(name, data, tmp_path) == PINNED[name]
