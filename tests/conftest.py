"""Shared fixtures: a platform on embedded defaults in a temporary SDP_HOME."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from sdp.catalog import DatasetIndex

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sdp_assets" / "mediawiki" / "fixtures" / "recentchange_sample_500.jsonl"
HASH_KEY = "test-hash-key"


def sample_events() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


@dataclass
class Platform:
    home: Path
    defs: dg.Definitions
    index: DatasetIndex

    @property
    def lakehouse(self):
        return self.defs.resources["lakehouse"]

    @property
    def lake(self):
        return self.lakehouse.lake()

    def read(self, qualified_name: str, start=None, end=None):
        entry = self.index.get(qualified_name)
        return self.lake.read(entry.domain.name, entry.dataset, start, end)

    def land(self, qualified_name: str = "mediawiki.recentchange", topic: bool = False):
        from sdp.runs import land

        result, _ = land(
            self.defs, self.index.get(qualified_name), dg.DagsterInstance.ephemeral(), topic
        )
        return result

    def materialize(self, keys, partition_key: str, instance=None) -> dg.ExecuteInJobResult:
        selection = dg.AssetSelection.assets(*(self.index.key(k) for k in keys))
        return dg.materialize(
            [*self.defs.assets, *self.defs.asset_checks],
            selection=selection,
            partition_key=partition_key,
            resources=self.defs.resources,
            instance=instance or dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )


def landing_summary(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of a landing run's summary output, as plain values."""
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in output.event_specific_data.metadata.items()}


def make_platform(home: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("SDP_HOME", str(home))
    monkeypatch.setenv("SDP_USER_HASH_KEY", HASH_KEY)
    monkeypatch.delenv("SDP_ENV", raising=False)
    from sdp_assets import definitions

    return Platform(home, definitions.defs(), DatasetIndex(definitions.domains()))


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """A fresh, empty platform per test."""
    return make_platform(tmp_path / "sdp", monkeypatch)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole demo materialized once from the real sample events (shared, read-only)."""
    from sdp.runs import land, materialize_touched
    from sdp.spec import ref

    with pytest.MonkeyPatch.context() as monkeypatch:
        platform = make_platform(tmp_path_factory.mktemp("demo") / "sdp", monkeypatch)
        platform.lakehouse.staging().stage("mediawiki", "recentchange", SAMPLE)
        with dg.instance_for_test() as instance:
            landing, times = land(
                platform.defs, platform.index.get("mediawiki.recentchange"), instance, topic=False
            )
            assert landing.success
            platform.landing = landing  # type: ignore[attr-defined]
            results = materialize_touched(
                platform.defs, platform.index, ref("mediawiki.recentchange"), times, instance
            )
            assert all(r.success for r in results)
            platform.results = results  # type: ignore[attr-defined]
            yield platform
