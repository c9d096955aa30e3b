"""Finds the domains: every sub-package of the domains package that declares `DOMAIN`."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from sdp.spec import Domain, SpecError


def discover_domains(package: ModuleType) -> list[Domain]:
    """Import each sub-package of `package` and collect its `DOMAIN`, sorted by name."""
    domains = []
    for module in pkgutil.iter_modules(package.__path__):
        if not module.ispkg:
            continue
        imported = importlib.import_module(f"{package.__name__}.{module.name}")
        domain = getattr(imported, "DOMAIN", None)
        if domain is None:
            continue
        if not isinstance(domain, Domain):
            raise SpecError(
                f"{imported.__name__}.DOMAIN is a {type(domain).__name__}, not a Domain"
            )
        if domain.name != module.name:
            raise SpecError(
                f"{imported.__name__}: DOMAIN is named {domain.name!r}, not its folder's"
            )
        domains.append(domain)
    return sorted(domains, key=lambda d: d.name)
