"""Loading the code location named in workspace.yaml, as the `dagster` CLI does.

The location's module provides `defs()` (the Dagster definitions) and `domains()` (the specs);
the CLI and the source API use it so that they never import a domain themselves.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import yaml

DEFAULT_WORKSPACE = Path("workspace.yaml")


class LocationError(RuntimeError):
    """The workspace or its code location cannot be loaded; the message says which and why."""


def load_location(workspace: Path | str = DEFAULT_WORKSPACE) -> ModuleType:
    """Import the (first) python_module code location of a workspace.yaml."""
    workspace = Path(workspace)
    if not workspace.is_file():
        raise LocationError(f"no workspace file at {workspace.resolve()}")
    config = yaml.safe_load(workspace.read_text()) or {}
    for target in config.get("load_from", []):
        module = (target or {}).get("python_module")
        if module:
            name = module if isinstance(module, str) else module.get("module_name")
            return importlib.import_module(name)
    raise LocationError(f"{workspace} names no python_module code location")
