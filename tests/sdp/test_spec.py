"""A deliberately incomplete spec fails to load with an error naming the dataset and the field."""

from dataclasses import replace
from datetime import timedelta

import pytest

from sdp import Column, Dataset, Domain, SpecError, Sql, hourly, ref
from sdp.catalog import DatasetIndex

COMPLETE = Dataset(
    name="pages",
    description="Pages.",
    owners=("team:wiki",),
    classification="public",
    columns=(Column("dt", "timestamp", "public"), Column("title", "string", "public")),
    partitioning=hourly("dt", "2026-09-01-00:00"),
    freshness=timedelta(hours=1),
    retention=timedelta(days=30),
    transform=Sql("select * from raw"),
    upstream=(ref("wiki.raw"),),
)
RAW = replace(COMPLETE, name="raw", transform=Sql("select 1"), upstream=(ref("wiki.pages"),))


def load(*datasets: Dataset) -> DatasetIndex:
    return DatasetIndex([Domain("wiki", "Wiki data.", ("team:wiki",), datasets)])


def test_complete_spec_loads():
    assert {e.qualified_name for e in load(COMPLETE, RAW)} == {"wiki.pages", "wiki.raw"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owners": ()}, "wiki.pages: missing owners"),
        ({"owners": ("nobody",)}, "wiki.pages: owner 'nobody' is neither an email"),
        ({"description": " "}, "wiki.pages: missing description"),
        ({"freshness": None}, "wiki.pages: missing freshness SLO"),
        ({"retention": None}, "wiki.pages: missing retention"),
        ({"partitioning": None}, "wiki.pages: missing partitioning"),
        ({"columns": ()}, "wiki.pages: missing columns"),
        (
            {"columns": (Column("dt", "timestamp", "public"), Column("title", "string", ""))},
            "wiki.pages: column 'title' is missing a classification",
        ),
        (
            {"columns": (Column("dt", "timestamp", "public"), Column("user", "string", "private"))},
            "wiki.pages: column 'user' is private but the dataset is public",
        ),
        ({"classification": "secret"}, "wiki.pages: classification 'secret' not one of"),
        ({"upstream": ()}, "wiki.pages: a derived dataset must name its upstream datasets"),
        ({"transform": None}, "wiki.pages: needs exactly one of source"),
        ({"upstream": (ref("other.thing"),)}, "wiki.pages: upstream dataset other.thing"),
    ],
)
def test_incomplete_spec_names_dataset_and_field(change, message):
    with pytest.raises(SpecError) as error:
        load(replace(COMPLETE, **change), RAW)
    assert message in str(error.value)


def test_bad_reference_is_refused():
    with pytest.raises(SpecError, match="expected 'domain.name'"):
        ref("no-dot")


def test_incomplete_domain_fails_the_whole_code_location(tmp_path, monkeypatch):
    """Loading definitions with an incomplete domain package fails naming dataset and field."""
    package = tmp_path / "teams"
    (package / "broken").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "broken" / "__init__.py").write_text(
        "from datetime import timedelta\n"
        "from sdp import Column, Dataset, Domain, JsonLinesSource, hourly\n"
        "DOMAIN = Domain('broken', 'Broken.', ('team:x',), (Dataset(\n"
        "    name='events', description='Events.', owners=('team:x',), classification='internal',\n"
        "    columns=(Column('dt', 'timestamp', 'internal'),),\n"
        "    partitioning=hourly('dt', '2026-09-01-00:00'), freshness=timedelta(hours=1),\n"
        "    retention=None, source=JsonLinesSource('/error/2.1.0', 'meta.id')),))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import teams

    from sdp.assemble import assemble
    from sdp.discovery import discover_domains

    with pytest.raises(SpecError, match="broken.events: missing retention"):
        assemble(DatasetIndex(discover_domains(teams)), warehouse="file:///tmp/unused")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"transform": Sql("selec dt, title frm raw")},
            "wiki.pages: transform SQL does not parse",
        ),
        (
            {"transform": Sql("select dt, title from raw join users using (title)")},
            "wiki.pages: transform SQL reads users, which is not an input; inputs are raw",
        ),
        ({"engine": "flink"}, "wiki.pages: engine 'flink' is not one of ('duckdb', 'spark')"),
    ],
)
def test_bad_transform_configuration_fails_at_load(change, message):
    with pytest.raises(SpecError) as error:
        load(replace(COMPLETE, **change), RAW)
    assert message in str(error.value)


def test_unknown_environment_is_refused_by_name(monkeypatch):
    from sdp_resources import environments

    monkeypatch.setenv("SDP_ENV", "staging")
    with pytest.raises(environments.ConfigError, match="SDP_ENV='staging' is not an environment"):
        environments.current()
