"""Spec of the package's shape (docs/architecture.md): its top-level folders form a one-way order, each importing
only folders below it, and the command line's composition does not import the heavy modules."""

import ast
import subprocess
import sys

from helpers.cli import REPO

# Top to bottom; a folder (or top-level module) may import only those in a lower layer, never a sibling.
LAYERS = [
    {"__main__"},
    {"app"},
    {
        "sample",
        "evaluate",
        "export",
        "statistics",
        "report",
        "bench",
    },  # the tools: built on the library, never on the app
    # walks, truncation and nearest neighbours: what ganrun.sample draws with; sharing: a generator given by path
    # (checkpoint, run folder, export, Hub, R3GAN pickle), exports, the Hub
    {"pictures", "sharing"},
    {"build"},  # every instantiate call: what the app and the tools build parts with
    {"runstate"},
    {"training"},
    {"objectives", "quality"},
    {"models", "data"},
    {"base"},
]
LAYER = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def imports_between_folders() -> set[tuple[str, str, str]]:
    """(importing folder, imported folder, file) for every import of ganrun's code by another top-level folder."""
    found = set()
    package = REPO / "ganrun"
    for path in package.rglob("*.py"):
        source = path.relative_to(package).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "ganrun" and len(parts) > 1 and parts[1] != source:
                    found.add((source, parts[1], str(path.relative_to(REPO))))
    return found


def test_every_folder_has_a_layer():
    folders = {p.name.removesuffix(".py") for p in (REPO / "ganrun").iterdir() if p.name != "__init__.py"}
    folders = {f for f in folders if not f.startswith("__pycache__")}
    assert folders <= set(LAYER), f"put {sorted(folders - set(LAYER))} into a layer of tests/test_architecture.py"


def test_folders_import_only_the_layers_below_them():
    upward = sorted(f"{file}: {a} imports {b}" for a, b, file in imports_between_folders() if LAYER[b] <= LAYER[a])
    assert upward == []


def test_composing_a_config_imports_no_heavy_module():
    """`--cfg`, `--help` and a bad override compose and check without torch-fidelity or torchvision's model zoo."""
    probe = (
        "import sys, runpy; sys.argv = ['ganrun', '--cfg', 'job']\n"
        "try:\n    runpy.run_module('ganrun', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torchvision.models', 'torch_fidelity', 'tensorboard', 'scipy', 'matplotlib') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert "HEAVY []" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_tests_mirror_the_package():
    """tests/<folder>/ specifies ganrun/<folder>/ (a test module per module where it can: test_<module>.py); the
    properties of whole runs are in tests/properties/, what tests share in tests/helpers/, files they read in
    tests/files/; only the project's own specs (this one, the docs, the install) stay at the top."""
    tests = REPO / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    package = {p.name for p in (REPO / "ganrun").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - package == {"properties", "helpers", "files"}
    top = sorted(p.name for p in tests.glob("test_*.py"))
    assert top == ["test_architecture.py", "test_docs.py", "test_install.py"]
    for folder in folders & package:  # below a stage, a test module's folder is one of that stage's folders
        for test in (tests / folder).rglob("test_*.py"):
            assert (REPO / "ganrun" / test.parent.relative_to(tests)).is_dir(), test
