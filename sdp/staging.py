"""The staging area: files handed to the platform (snapshots, dumps, aggregates) wait here.

A file is staged under `<root>/<domain>/<dataset>/` with a name that carries its content hash,
copied to a temporary name and renamed, so a crash never leaves half a file, and loading the same
file twice stages it once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

STAGED_SUFFIX = ".jsonl"


class Staging:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def folder(self, domain: str, dataset: str) -> Path:
        return self.root / domain / dataset

    def stage(self, domain: str, dataset: str, source: Path | str) -> tuple[Path, bool]:
        """Stage a copy of `source`; returns its staged path and whether it was new."""
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"no such file: {source}")
        digest = _sha256(source)
        folder = self.folder(domain, dataset)
        folder.mkdir(parents=True, exist_ok=True)
        for existing in folder.glob(f"*-{digest[:16]}-*{STAGED_SUFFIX}"):
            return existing, False
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{stamp}-{digest[:16]}-{source.stem}{STAGED_SUFFIX}"
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return target, True

    def files(self, domain: str, dataset: str) -> list[Path]:
        """Staged files, oldest first (hidden partial copies excluded)."""
        folder = self.folder(domain, dataset)
        return sorted(p for p in folder.glob(f"*{STAGED_SUFFIX}") if not p.name.startswith("."))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
