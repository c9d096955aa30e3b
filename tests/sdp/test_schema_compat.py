"""A new minor version may only widen what its predecessor accepted; a major version may break."""

import copy
import shutil

import pytest
import yaml

from sdp import schema_compat
from sdp.schema_compat import check_registry, check_title, compatibility_problems
from sdp.schemas import DEFAULT_ROOT, SchemaRegistry

RECENTCHANGE = "/mediawiki/recentchange/1.0.0"


@pytest.fixture
def old():
    return SchemaRegistry().schema(RECENTCHANGE)


@pytest.fixture
def new(old):
    """A candidate next version: a deep copy of recentchange 1.0.0 that each test modifies."""
    return copy.deepcopy(old)


def test_the_real_schema_repository_is_compatible():
    assert check_registry(SchemaRegistry()) == {
        "error": [],
        "mediawiki/page/change": [],
        "mediawiki/page/delete": [],
        "mediawiki/recentchange": [],
        "mediawiki/revision/create": [],
    }


def test_the_real_repository_check_compares_every_minor_step_but_not_the_major_bump(monkeypatch):
    compared = []

    def spy(old, new):
        compared.append((old["$id"], new["$id"]))
        return compatibility_problems(old, new)

    monkeypatch.setattr(schema_compat, "compatibility_problems", spy)
    check_registry(SchemaRegistry())
    assert sorted(compared) == [
        ("/mediawiki/page/change/1.1.0", "/mediawiki/page/change/1.2.0"),
        ("/mediawiki/recentchange/1.0.0", "/mediawiki/recentchange/1.0.1"),
        ("/mediawiki/revision/create/1.1.0", "/mediawiki/revision/create/1.2.0"),
    ]


def test_the_checker_does_find_real_breaks_between_real_versions():
    registry = SchemaRegistry()

    def problems(title, old, new):
        return compatibility_problems(
            registry.schema(f"/{title}/{old}"), registry.schema(f"/{title}/{new}")
        )

    # Read backwards, 1.2.0 -> 1.1.0 drops rev_slots and page/change re-requires performer.
    assert problems("mediawiki/revision/create", "1.2.0", "1.1.0") == ["rev_slots: removed"]
    assert problems("mediawiki/page/change", "1.2.0", "1.1.0") == ["performer: newly required"]
    # The real major bump does break: it requires the new top-level dt and closes the event.
    assert problems("mediawiki/revision/create", "1.2.0", "2.0.0") == [
        "(root): additionalProperties set to false",
        "dt: newly required",
    ]


def test_an_unchanged_schema_has_no_problems(old, new):
    assert compatibility_problems(old, new) == []


def test_removing_a_nested_field_is_refused(old, new):
    del new["properties"]["length"]["properties"]["old"]
    assert compatibility_problems(old, new) == ["length.old: removed"]


def test_removing_a_top_level_field_is_refused(old, new):
    del new["properties"]["meta"]
    assert compatibility_problems(old, new) == ["meta: removed"]


def test_removing_a_field_inside_array_items_is_refused():
    def tags(*fields):
        item = {"type": "object", "properties": {name: {"type": "string"} for name in fields}}
        return {"type": "object", "properties": {"tags": {"type": "array", "items": item}}}

    assert compatibility_problems(tags("name", "color"), tags("name")) == ["tags[].color: removed"]


def test_retyping_a_field_is_refused(old, new):
    new["properties"]["bot"]["type"] = "string"
    assert compatibility_problems(old, new) == ["bot: retyped from boolean to string"]


def test_narrowing_a_nullable_type_is_refused(old, new):
    new["properties"]["length"]["properties"]["old"]["type"] = "integer"
    assert compatibility_problems(old, new) == ["length.old: retyped from integer|null to integer"]


def test_replacing_a_type_in_a_list_is_refused(old, new):
    new["properties"]["length"]["properties"]["old"]["type"] = ["string", "null"]
    assert compatibility_problems(old, new) == [
        "length.old: retyped from integer|null to string|null"
    ]


def test_integer_to_number_counts_as_a_retype_because_consumers_type_columns_by_it(old, new):
    new["properties"]["namespace"]["type"] = "number"
    assert compatibility_problems(old, new) == ["namespace: retyped from integer to number"]


def test_a_retyped_object_is_reported_once_not_per_sub_field(old, new):
    new["properties"]["meta"] = {"type": "string"}
    assert compatibility_problems(old, new) == ["meta: retyped from object to string"]


def test_a_new_required_field_is_refused(old, new):
    new["properties"]["dt"] = {"type": "string", "format": "date-time"}
    new["required"].append("dt")
    assert compatibility_problems(old, new) == ["dt: newly required"]


def test_making_an_existing_optional_field_required_is_refused(old, new):
    new["properties"]["meta"]["required"].append("domain")
    assert compatibility_problems(old, new) == ["meta.domain: newly required"]


def test_narrowing_an_enum_is_refused():
    registry = SchemaRegistry()
    old = registry.schema("/mediawiki/page/change/1.2.0")
    new = copy.deepcopy(old)
    new["properties"]["changelog_kind"]["enum"].remove("delete")
    assert compatibility_problems(old, new) == ["changelog_kind: enum narrowed, removed 'delete'"]


def test_adding_an_enum_to_a_free_field_is_refused(old, new):
    new["properties"]["type"]["enum"] = ["edit", "new", "log"]
    assert compatibility_problems(old, new) == [
        "type: enum added, restricting values that were free"
    ]


def test_closing_an_open_object_is_refused(old, new):
    new["properties"]["length"]["additionalProperties"] = False
    new["additionalProperties"] = False
    assert compatibility_problems(old, new) == [
        "(root): additionalProperties set to false",
        "length: additionalProperties set to false",
    ]


def test_closing_a_map_whose_values_were_any_schema_is_refused():
    old = {"type": "object", "additionalProperties": {}}
    new = {"type": "object", "additionalProperties": False}
    assert compatibility_problems(old, new) == ["(root): additionalProperties set to false"]


def test_adding_an_optional_field_is_accepted(old, new):
    new["properties"]["length"]["properties"]["delta"] = {"type": "integer"}
    new["properties"]["dt"] = {"type": "string", "format": "date-time"}
    assert compatibility_problems(old, new) == []


def test_widening_a_type_to_include_null_is_accepted(old, new):
    new["properties"]["bot"]["type"] = ["boolean", "null"]
    assert compatibility_problems(old, new) == []


def test_adding_enum_values_and_relaxing_required_are_accepted():
    registry = SchemaRegistry()
    old = registry.schema("/mediawiki/page/change/1.1.0")
    new = copy.deepcopy(registry.schema("/mediawiki/page/change/1.2.0"))
    new["properties"]["changelog_kind"]["enum"].append("undelete")
    assert compatibility_problems(old, new) == []


def test_editing_descriptions_examples_and_id_is_accepted(old, new):
    new["description"] = "Something else."
    new["properties"]["bot"]["description"] = "Whether a bot made the change."
    new["$id"] = "/mediawiki/recentchange/1.1.0"
    new["examples"] = []
    assert compatibility_problems(old, new) == []


@pytest.fixture
def registry_copy(tmp_path):
    """A writable copy of the real schema repository."""
    shutil.copytree(DEFAULT_ROOT, tmp_path / "schemas")
    return SchemaRegistry(tmp_path / "schemas")


def add_version_without_length_old(registry, version):
    schema = copy.deepcopy(registry.schema("/mediawiki/recentchange/1.0.1"))
    schema["$id"] = f"/mediawiki/recentchange/{version}"
    del schema["properties"]["length"]["properties"]["old"]
    (registry.root / "mediawiki" / "recentchange" / f"{version}.yaml").write_text(
        yaml.safe_dump(schema, sort_keys=False)
    )


def test_an_incompatible_minor_version_in_the_registry_is_reported(registry_copy):
    add_version_without_length_old(registry_copy, "1.1.0")
    expected = ["mediawiki/recentchange 1.0.1 -> 1.1.0: length.old: removed"]
    assert check_title(registry_copy, "mediawiki/recentchange") == expected
    problems = check_registry(registry_copy)
    assert problems["mediawiki/recentchange"] == expected
    assert not any(problems[title] for title in problems if title != "mediawiki/recentchange")


def test_a_major_version_bump_may_break_compatibility(registry_copy):
    add_version_without_length_old(registry_copy, "2.0.0")
    assert registry_copy.versions("mediawiki/recentchange")[-1] == "2.0.0"
    assert check_title(registry_copy, "mediawiki/recentchange") == []
