"""Backward-compatibility checks between versions of a schema title, as Wikimedia's CI enforces.

Producers move to a new schema version while consumers (and tables built from older events) keep
reading, so within one MAJOR version every event valid under the old version must stay valid, and
equally typed, under the new one. A new version therefore must not remove a field (at any depth),
narrow a field's type set, require a field that was optional or absent, narrow an enum, or close
an object with `additionalProperties: false`. Adding optional fields, adding enum values, widening
types and editing descriptions, examples or `$id` are fine. A MAJOR bump (1.2.0 -> 2.0.0) is
Wikimedia's explicit signal of a breaking change, so pairs across majors are not compared.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sdp.schemas import SchemaRegistry

Schema = Mapping[str, Any]
_ROOT = "(root)"  # how messages name the event itself, which has no field path


def compatibility_problems(old: Schema, new: Schema) -> list[str]:
    """Why events valid under `old` might be invalid (or typed differently) under `new`.

    Empty when `new` is compatible. Each message starts with the field's dotted JSON path: `[]`
    stands for the items of an array, `*` for the values of a map (schema `additionalProperties`).
    """
    return list(_problems(old, new, ""))


def check_title(registry: SchemaRegistry, title: str) -> list[str]:
    """Compatibility problems between consecutive versions of `title` sharing a MAJOR version.

    Messages are prefixed `"<title> <old> -> <new>: "`. Only consecutive pairs are compared: each
    rule is transitive, so a break between any two versions of a major shows in a consecutive pair.
    """
    problems = []
    for old_version, new_version in comparable_pairs(registry.versions(title)):
        old = registry.schema(f"/{title}/{old_version}")
        new = registry.schema(f"/{title}/{new_version}")
        prefix = f"{title} {old_version} -> {new_version}: "
        problems += [prefix + problem for problem in compatibility_problems(old, new)]
    return problems


def check_registry(registry: SchemaRegistry) -> dict[str, list[str]]:
    """Problems per title for every title in the registry (an empty list when it is compatible)."""
    return {title: check_title(registry, title) for title in titles(registry)}


def comparable_pairs(versions: list[str]) -> list[tuple[str, str]]:
    """Consecutive (old, new) pairs of sorted versions, skipping MAJOR bumps that may break."""
    pairs = zip(versions, versions[1:], strict=False)
    return [(old, new) for old, new in pairs if _major(old) == _major(new)]


def titles(registry: SchemaRegistry) -> list[str]:
    """Every folder under the registry root holding at least one `<version>.yaml` file."""
    folders = {path.parent for path in registry.root.rglob("*.yaml")}
    found = (folder.relative_to(registry.root).as_posix() for folder in folders)
    return sorted(title for title in found if registry.versions(title))


def _major(version: str) -> int:
    return int(version.split(".")[0])


def _problems(old: Schema | bool, new: Schema | bool, path: str) -> Iterator[str]:
    where = path or _ROOT
    # Draft-07 boolean schemas: `true` is the empty schema; `false` admits no value at all.
    old, new = ({} if schema is True else schema for schema in (old, new))
    if old is False:
        return
    if new is False:
        yield f"{where}: no value allowed any more"
        return
    old_types, new_types = _types(old), _types(new)
    if not _covers(new_types, old_types):
        yield f"{where}: retyped from {_show(old_types)} to {_show(new_types)}"
        # The field's contents follow from its type; listing its sub-fields as removed is noise.
        return
    yield from _enum_problems(old, new, where)
    yield from _closed_problems(old, new, where)
    yield from _property_problems(old, new, path)
    # Tuple-form `items` (a list) appears in no Wikimedia schema; only the common form is compared.
    if _either_has(old, new, "items") and not isinstance(old.get("items"), list):
        yield from _problems(old.get("items", True), new.get("items", True), f"{path}[]")
    new_extra = new.get("additionalProperties", True)
    # Closing (false) is reported once, by _closed_problems.
    if _either_has(old, new, "additionalProperties") and new_extra is not False:
        yield from _problems(old.get("additionalProperties", True), new_extra, _join(path, "*"))


def _property_problems(old: Schema, new: Schema, path: str) -> Iterator[str]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name in new_props:
            yield from _problems(old_prop, new_props[name], _join(path, name))
        else:
            yield f"{_join(path, name)}: removed"
    # Old events may lack any field the old version did not require.
    for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
        yield f"{_join(path, name)}: newly required"


def _enum_problems(old: Schema, new: Schema, where: str) -> Iterator[str]:
    if "enum" not in new:
        return
    if "enum" not in old:
        yield f"{where}: enum added, restricting values that were free"
        return
    dropped = [value for value in old["enum"] if value not in new["enum"]]
    if dropped:
        yield f"{where}: enum narrowed, removed {', '.join(map(repr, dropped))}"


def _closed_problems(old: Schema, new: Schema, where: str) -> Iterator[str]:
    # Absent, true or a schema all admit extra properties that false would now reject.
    closed = [schema.get("additionalProperties", True) is False for schema in (old, new)]
    if closed == [False, True]:
        yield f"{where}: additionalProperties set to false"


def _types(schema: Schema) -> list[str] | None:
    """The declared type names in their written order, or None when any type is allowed."""
    declared = schema.get("type")
    if declared is None:
        return None
    return [declared] if isinstance(declared, str) else list(declared)


def _covers(new: list[str] | None, old: list[str] | None) -> bool:
    # Literal names on purpose: integer -> number admits the old values but changes the column type
    # consumers derive (bigint -> double), so it counts as a retype.
    if new is None:
        return True
    return old is not None and set(old) <= set(new)


def _show(types: list[str] | None) -> str:
    return "any" if types is None else "|".join(types)


def _either_has(old: Schema, new: Schema, keyword: str) -> bool:
    # Recursing into an absent keyword would compare two empty schemas forever.
    return keyword in old or keyword in new


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
