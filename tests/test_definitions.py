"""Platform contract over the real code location: every dataset carries what users rely on."""

import dagster as dg
import pytest

from sdp.builder import classification_violations

CLASSIFICATIONS = {"public", "internal", "private"}


@pytest.fixture
def asset_graph(platform):
    return platform.defs.resolve_asset_graph()


def dataset_keys(asset_graph):
    return [
        key for key in asset_graph.get_all_asset_keys() if asset_graph.get(key).is_materializable
    ]


def test_whole_definitions(platform, asset_graph):
    """Asset keys, checks and sensors: an accidental change shows up here."""
    assert sorted(k.to_user_string() for k in dataset_keys(asset_graph)) == [
        "editors/editor_daily_activity",
        "mediawiki/edits_daily",
        "mediawiki/edits_hourly",
        "mediawiki/recentchange",
        "mediawiki/recentchange_sanitized",
    ]
    checks = {(k.asset_key.to_user_string(), k.name) for k in asset_graph.asset_check_keys}
    for key in dataset_keys(asset_graph):
        assert (key.to_user_string(), "schema_contract") in checks
    assert ("mediawiki/recentchange", "event_fields") in checks  # Great Expectations suite
    assert ("mediawiki/edits_daily", "edits_daily_one_row_per_key") in checks  # a dbt test
    sensors = {s.name for s in platform.defs.sensors}
    assert "default_automation_condition_sensor" in sensors


def test_every_dataset_meets_the_platform_contract(asset_graph):
    for key in dataset_keys(asset_graph):
        node = asset_graph.get(key)
        name = key.to_user_string()
        assert node.owners, f"{name}: no owners"
        assert node.description, f"{name}: no description"
        assert node.freshness_policy is not None, f"{name}: no freshness policy"
        assert node.check_keys, f"{name}: no asset check"
        assert node.group_name == key.path[0], f"{name}: group is not the domain"
        assert node.partitions_def is not None, f"{name}: not partitioned"
        metadata = node.metadata
        assert metadata.get("retention_days", 0) > 0, f"{name}: no retention"
        assert str(metadata["dagster/uri"].value).endswith(f"/{key.path[0]}/{key.path[1]}")
        assert metadata["classification"] in CLASSIFICATIONS
        columns = metadata["dagster/column_schema"].columns
        assert columns, f"{name}: no column schema"
        for column in columns:
            assert column.tags.get("classification") in CLASSIFICATIONS, f"{name}.{column.name}"
        assert {"iceberg"} <= set(node.kinds), f"{name}: kinds {node.kinds}"


def test_no_private_column_in_a_public_dataset(platform):
    assert list(classification_violations(platform.index)) == []
    public = [e for e in platform.index if e.dataset.classification == "public"]
    assert public
    for entry in public:
        assert all(c.classification == "public" for c in entry.dataset.columns), entry


def test_cross_domain_lineage(asset_graph):
    activity = dg.AssetKey(["editors", "editor_daily_activity"])
    node = asset_graph.get(activity)
    assert dg.AssetKey(["mediawiki", "recentchange_sanitized"]) in node.parent_keys
    assert set(node.owners) == {"team:editor-growth", "editor-growth@example.org"}
