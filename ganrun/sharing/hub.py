"""The Hugging Face Hub through huggingface_hub: `hf://user/repo[@revision][/file.pkl]` downloaded once into its
cache (offline, the cached copy is used; without one, one line says so), and `ganrun.export --push` uploads an
export folder (token from the usual place: `hf auth login` or HF_TOKEN)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ganrun.base.errors import UsageError
from ganrun.sharing.exported import CONFIG, WEIGHTS, needs

SCHEME = "hf://"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WANTED = [CONFIG, WEIGHTS, "*.pkl"]  # an export's files, or a network pickle (R3GAN's repositories hold one)


@dataclass(frozen=True)
class HubId:
    repo_id: str
    revision: str | None = None
    file: str | None = None  # one file in the repository (a pickle among several)


def parse(text: str) -> HubId:
    """`hf://user/repo[@revision][/path/to/file]` → its parts; a malformed one is one line."""
    rest = text.removeprefix(SCHEME)
    owner, _, tail = rest.partition("/")
    name, _, file = tail.partition("/")
    name, _, revision = name.partition("@")
    repo_id = f"{owner}/{name}"
    if not REPO_ID.match(repo_id):
        raise UsageError(f"{text} is not a Hub repository id; write hf://USER/REPO (optionally @REVISION)")
    return HubId(repo_id, revision or None, file or None)


def download(text: str) -> Path:
    """The local folder (in huggingface_hub's cache) holding the repository's files ganrun reads."""
    hub = parse(text)
    hf = needs("huggingface_hub", f"reading {text}")
    from huggingface_hub import errors

    try:
        folder = hf.snapshot_download(
            hub.repo_id, revision=hub.revision, allow_patterns=[hub.file] if hub.file else WANTED
        )
    except errors.LocalEntryNotFoundError:
        raise UsageError(
            f"{text} is not in the local Hub cache and the Hub cannot be reached (offline, or HF_HUB_OFFLINE=1); "
            "download it once with network, or give a local export folder"
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as exc:
        raise UsageError(f"{text}: {first_line(exc)}; check the id (a private one needs `hf auth login`)") from None
    except (errors.HfHubHTTPError, OSError, ValueError) as exc:
        raise UsageError(f"{text} cannot be downloaded: {first_line(exc)}") from None
    return Path(folder) / hub.file if hub.file else Path(folder)


def pinned(text: str, local: Path) -> str:
    """`text` pinned to the commit it was read at (the snapshot folder of huggingface_hub's cache that `local` is
    in): hf://user/repo@<commit>[/file], what a run started from it records, so that a later push to the repository
    does not change what the record names."""
    parts = local.parts
    if "snapshots" not in parts[:-1]:
        return text
    commit = parts[len(parts) - 1 - parts[::-1].index("snapshots") + 1]
    hub = parse(text)
    return f"{SCHEME}{hub.repo_id}@{commit}" + (f"/{hub.file}" if hub.file else "")


def push(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload an export folder to the Hub repository `repo_id` (created when new; private when asked); returns its
    address. No token or no network: one line, and the folder stays where it is."""
    hf = needs("huggingface_hub", "--push")
    from huggingface_hub import errors

    kept = f"the export is kept in {folder}"
    if not REPO_ID.match(repo_id):
        raise UsageError(f"--push {repo_id} is not a repository id; write USER/REPO ({kept})")
    if hf.get_token() is None:
        raise UsageError(f"--push needs a Hugging Face token: run `hf auth login` or set HF_TOKEN ({kept})")
    try:
        api = hf.HfApi()
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="ganrun.export")
    except (errors.HfHubHTTPError, OSError, ValueError) as exc:  # OfflineModeIsEnabled is a ConnectionError
        raise UsageError(f"--push {repo_id} failed: {first_line(exc)} ({kept})") from None
    return str(url)


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
