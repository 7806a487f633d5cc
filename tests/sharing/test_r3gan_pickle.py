"""Spec of reading R3GAN network pickles without running their code (ganrun/sharing/r3gan_pickle.py and
r3gan_import.py), on two small pickles made with R3GAN's own code (scripts/r3gan_pickles.py make): the settings come
from the pickle, the generator computes what R3GAN's G_ema computed (float64, to rounding), and anything that is not
a tensor, a plain container or one of R3GAN's module classes is refused in one line naming it, never called."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.build import generator_of
from ganrun.sharing import r3gan_import
from helpers.cli import REPO

DATA = REPO / "tests" / "files" / "r3gan"


@pytest.mark.parametrize("name", ["tiny", "tiny-cond"])
def test_the_generator_computes_what_r3gans_code_computed(name):
    state = r3gan_import.read(DATA / f"{name}.pkl")
    expected = np.load(DATA / f"{name}.expected.npz")  # R3GAN's G_ema(z, c) in float64, by its own code
    generator = generator_of(state, torch.device("cpu")).double()
    labels = torch.from_numpy(expected["labels"]) if "labels" in expected else None
    with torch.no_grad():
        images = (
            generator(torch.from_numpy(expected["z"]), labels)
            if labels is not None
            else generator(torch.from_numpy(expected["z"]))
        )
    want = torch.from_numpy(expected["images"])
    torch.testing.assert_close(images, want, rtol=0, atol=1e-12 * want.abs().max().item())


def test_settings_are_read_from_the_pickle():
    """scripts/r3gan_pickles.py built these from train.py-style arguments: widths [16, 8, 8], cardinalities
    [4, 2, 2] (8 channels a group at expansion 2), one block a stage, z of 8, 16×16 images, 3 classes."""
    model = r3gan_import.read(DATA / "tiny-cond.pkl")["config"]["model"]
    assert model == {
        "_target_": "ganrun.models.r3gan.build",
        "image_size": 16,
        "channels": 3,
        "z_dim": 8,
        "widths": [16, 8, 8],
        "blocks": [1, 1, 1],
        "group_width": 8,
        "expansion": 2,
        "conditional": True,
        "num_classes": 3,
    }
    state = r3gan_import.read(DATA / "tiny.pkl")
    assert state["config"]["model"]["conditional"] is False and state["images_seen"] == 2048
    assert state["config"]["dataset"]["root"] == "/data/tiny-16x16"  # training_set_kwargs' zip, unpacked
    assert not torch.equal(state["ema"]["to_image.weight"], state["generator"]["to_image.weight"])  # G_ema ≠ G


class Boom:
    """What a hostile pickle does: call a function while it loads."""

    def __reduce__(self):
        return (print, ("this must never be printed",))


def test_a_pickle_that_calls_anything_else_is_refused_in_one_line_naming_it(tmp_path, capsys):
    path = tmp_path / "hostile.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Boom()}))
    with pytest.raises(UsageError) as error:
        r3gan_import.read(path)
    assert str(error.value) == (
        f"{path}: the pickle needs builtins.print, which is not a tensor, a plain container or one of R3GAN's module "
        "classes; ganrun reads R3GAN network pickles without running their code and refuses anything else"
    )
    assert "never be printed" not in capsys.readouterr().out


def persistent_pickle(tmp_path, source: str, class_name: str):
    """A pickle in StyleGAN3's persistence format: a call of _reconstruct_persistent_obj with the module's source."""
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # stands in for StyleGAN3's while pickling
        raise AssertionError("never called")

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class Network:
        def __reduce__(self):
            meta = {"type": "class", "version": 6, "module_src": source, "class_name": class_name, "state": {}}
            return (_reconstruct_persistent_obj, (meta,))

    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = types.ModuleType("torch_utils"), module
    try:
        data = pickle.dumps({"G": Network(), "D": Network(), "G_ema": Network()})
    finally:
        del sys.modules["torch_utils"], sys.modules["torch_utils.persistence"]
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(data)
    return path


def test_a_stylegan_pickle_is_refused_saying_ganrun_has_no_model_for_it_and_its_source_is_never_run(tmp_path):
    source = "raise SystemExit('executed')\nclass SynthesisNetwork: pass\nclass Generator: pass\n"
    path = persistent_pickle(tmp_path, source, "Generator")
    with pytest.raises(UsageError) as error:
        r3gan_import.read(path)
    assert str(error.value) == (
        f"{path}: the pickle is a StyleGAN2/3 network (a persistent class Generator); ganrun has no model for it: "
        "it reads R3GAN's network pickles (model=r3gan)"
    )


def test_a_biggan_class_is_refused_saying_so(tmp_path):
    path = tmp_path / "biggan.pkl"
    path.write_bytes(b"\x80\x04cBigGAN\nGenerator\n)\x81.")  # a pickle that builds BigGAN.Generator()
    with pytest.raises(UsageError, match=r"the pickle is a BigGAN network \(BigGAN.Generator\); ganrun has no model"):
        r3gan_import.read(path)


def test_a_truncated_pickle_is_one_line(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes((DATA / "tiny.pkl").read_bytes()[:5000])
    with pytest.raises(UsageError, match=r"is not a readable network pickle \(truncated or another format\)"):
        r3gan_import.read(path)
