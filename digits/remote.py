"""Where the app keeps things beyond a restart: a Hugging Face repo or a folder (a mounted
Storage Bucket). A small interface (list, read, add a folder) with two backends; nothing
is ever rewritten, only new folders added. Used for visitors' drawings and trained weights.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Protocol

TOKEN_ENV = "HF_TOKEN"


class Remote(Protocol):
    """Where drawings are kept: paths are POSIX, relative to the repo or folder root."""

    def files(self, prefix: str) -> list[str]: ...

    def read(self, path: str) -> bytes: ...

    def put_folder(self, local: Path, path: str) -> None: ...


class FolderRemote:
    """A folder: a mounted Storage Bucket, another disk, or the tests' stand-in for the Hub."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def files(self, prefix: str) -> list[str]:
        base = self.root / prefix
        return sorted(str(PurePosixPath(p.relative_to(self.root).as_posix()))
                      for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def put_folder(self, local: Path, path: str) -> None:
        """Copied beside its place, then renamed into it: readers never see half a batch."""
        target = self.root / path
        if target.exists():
            raise FileExistsError(f"{target} exists: a push never rewrites a file")
        staging = target.with_name(f".{target.name}.partial")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(local, staging)
        staging.rename(target)


class HubRemote:
    """A private Hugging Face repo (a dataset for drawings, a model repo for weights), created on
    first use."""

    def __init__(self, repo: str, token: str, repo_type: str = "dataset"):
        from huggingface_hub import HfApi

        self.repo, self.repo_type, self.api = repo, repo_type, HfApi(token=token)
        self.api.create_repo(repo, repo_type=repo_type, private=True, exist_ok=True)

    def files(self, prefix: str) -> list[str]:
        return sorted(f for f in self.api.list_repo_files(self.repo, repo_type=self.repo_type) if f.startswith(prefix))

    def read(self, path: str) -> bytes:
        return Path(self.api.hf_hub_download(self.repo, path, repo_type=self.repo_type)).read_bytes()

    def put_folder(self, local: Path, path: str) -> None:
        self.api.upload_folder(folder_path=str(local), path_in_repo=path, repo_id=self.repo,
                               repo_type=self.repo_type, commit_message=f"digits: {path}")


def is_folder(value: str) -> bool:
    """A folder is written as a path ("/data/drawings", "./kept"); anything else is a repo id."""
    return value.startswith(("/", ".", "~"))


def remote_from_env(repo_env: str, repo_type: str, env: dict[str, str] | None = None
                    ) -> tuple[Remote | None, str | None]:
    """The remote named by `repo_env`, or None and, when it is misconfigured, why."""
    env = os.environ if env is None else env
    value = env.get(repo_env, "").strip()
    if not value:
        return None, None
    if is_folder(value):
        folder = Path(value).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return None, f"{repo_env}={value} cannot be written ({exc.strerror or exc}): a restart loses what is kept"
        return FolderRemote(folder), None
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        return None, f"{repo_env}={value} is set but {TOKEN_ENV} is not: a restart loses what is kept"
    try:
        return HubRemote(value, token, repo_type), None
    except Exception as exc:  # the Hub refused (a bad token, no network): the app serves anyway
        return None, f"{repo_env}={value} cannot be used ({type(exc).__name__}: {exc}): a restart loses what is kept"
