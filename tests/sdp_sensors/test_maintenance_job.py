"""The nightly maintenance job over the real definitions."""

import json

import pytest

from tests.conftest import sample_events


@pytest.mark.slow
def test_nightly_maintenance_job_compacts_landed_partitions(platform, tmp_path):
    """The scheduled job over the real definitions: many small landings become one file."""
    events = sample_events()[:300]
    for number in range(6):
        path = tmp_path / f"batch-{number}.jsonl"
        path.write_text(
            "".join(json.dumps(e) + "\n" for e in events[number * 50 : (number + 1) * 50])
        )
        platform.lakehouse.staging().stage("mediawiki", "recentchange", path)
        assert platform.land().success
    before = sorted(platform.read("mediawiki.recentchange")["meta_id"].to_pylist())
    entry = platform.index.get("mediawiki.recentchange")
    table = platform.lake.table("mediawiki", entry.dataset)
    assert len(table.inspect.files()) == 6

    job = platform.defs.resolve_job_def("maintain_lake")
    assert job.execute_in_process(resources=platform.defs.resources).success

    assert len(platform.lake.table("mediawiki", entry.dataset).inspect.files()) == 1
    assert sorted(platform.read("mediawiki.recentchange")["meta_id"].to_pylist()) == before
    assert "maintain_lake_nightly" in {s.name for s in platform.defs.schedules}
