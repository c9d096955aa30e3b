"""Recompute of one day: the platform on DuckDB, hand-written DuckDB, and the platform on Spark.

    uv run python bench/recompute.py [--events 5000000] [--runs 2] [--no-spark] [--keep]

Builds a temporary lake (SQLite catalog, local warehouse) holding one day (2026-09-18) of
`mediawiki.recentchange_sanitized`: N rows generated from the 500 real sample events with fresh
ids, event times spread in order over the 24 hours, page titles and editor hashes varied per copy
(up to 500k distinct pages and 100k distinct editors a day, so distinct counts do real work),
written with pyiceberg (24 hourly partitions). Then recomputes that day of two datasets:
`mediawiki.edits_hourly` (its SQL transform) and `mediawiki.edits_daily` (the dbt model's SQL with
the Jinja replaced by the table name and `$start`/`$end`), three ways, interleaved per run
(b first in each run):

- (a) platform on DuckDB: `Lake.read` of the day window -> `TransformContext.sql` (sdp.engine)
  -> `Lake.replace_partition` of the day window, per dataset, as the builder does;
  (a2) the same reading only the columns the SQL uses (`Lake.read(columns=...)`);
  (a3) the same with the input handed to sdp.engine as a lazy `pyarrow.dataset` over the data
  files pyiceberg plans for the window (a possible read path for the builder, not today's);
  (a4) the same SQL and `Lake.replace_partition`, the input a DuckDB view over
  `read_parquet(<planned files>)` filtered to the window (another possible read path);
- (b) hand-written: the table's data files for the window from pyiceberg's scan planning,
  `read_parquet([...])` in DuckDB with the same aggregation, result to Arrow (no write): the limit;
- (c) platform on Spark `local[2]` (sdp.spark.SparkEngine): Iceberg read, translated SQL,
  `replace_partition` (DataFrameWriterV2 overwrite of the window); session start timed apart.

Every approach's rows are compared with (b) after its first run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import sqlglot
from sqlglot import exp

from sdp.events import arrow_schema
from sdp.lake import Lake, LakeConfig, conform, window_filter
from sdp.spec import Dataset
from sdp.transform import TransformContext
from sdp_assets.mediawiki.datasets import edits_daily, edits_hourly, recentchange_sanitized
from sdp_assets.mediawiki.sanitize import editor_type

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sdp_assets" / "mediawiki" / "fixtures" / "recentchange_sample_500.jsonl"
DBT_MODEL = REPO / "dbt_project" / "models" / "edits_daily.sql"
DAY = datetime(2026, 9, 18, tzinfo=UTC)
END = DAY + timedelta(days=1)
PAGE_VARIANTS = 1000  # copies of a sample event edit one of this many pages per title
EDITOR_VARIANTS = 200  # ... and are made by one of this many editors per sample editor
INPUT = "recentchange_sanitized"
T = TypeVar("T")
PHASES: dict[str, float] = defaultdict(float)

# (b): what one would write by hand over the files, with the window filter pushed into the scan.
HAND_WRITTEN = {
    "edits_hourly": "date_trunc('hour', dt) as hour",
    "edits_daily": "date_trunc('day', dt) as day",
}
HAND_WRITTEN_SQL = """
select
    {period},
    wiki,
    editor_type,
    count(*) as edits,
    count(distinct user_hash) as editors,
    count(distinct namespace::varchar || ':' || title) as pages,
    coalesce(sum(coalesce(length_new, 0) - coalesce(length_old, 0)), 0) as net_bytes
from read_parquet($files)
where dt >= $start and dt < $end and type in ('edit', 'new')
group by all
"""


def dbt_sql(path: Path = DBT_MODEL) -> str:
    """The dbt model's SQL without Jinja: the window becomes $start/$end, the source its table."""
    # The config block ends with ") }}" alone on a line (its hooks hold Jinja of their own).
    text = re.sub(r"\{\{\s*config\(.*?^\)\s*\}\}", "", path.read_text(), flags=re.S | re.M)
    text = re.sub(r"\{\{\s*source\([^)]*\)\s*\}\}", INPUT, text)
    text = re.sub(r"""'\{\{\s*var\(["'](start|end)["']\)\s*\}\}'::timestamptz""", r"$\1", text)
    if "{{" in text or "{%" in text:
        raise ValueError(f"{path}: Jinja left after stripping: {text}")
    return text


DATASETS: list[tuple[Dataset, str]] = [
    (edits_hourly, edits_hourly.transform.query),
    (edits_daily, dbt_sql()),
]


# ------------------------------------------------------------------ data


def sample_columns() -> dict[str, list]:
    """The sanitized columns of the sample's events (canaries dropped, as landing does)."""
    events = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    events = [e for e in events if e["meta"].get("domain") != "canary"]
    return {
        "wiki": [e.get("wiki") for e in events],
        "type": [e.get("type") for e in events],
        "namespace": [e.get("namespace") for e in events],
        "title": [e.get("title") for e in events],
        "bot": [e.get("bot") for e in events],
        "minor": [e.get("minor") for e in events],
        "length_old": [(e.get("length") or {}).get("old") for e in events],
        "length_new": [(e.get("length") or {}).get("new") for e in events],
        "revision_new": [(e.get("revision") or {}).get("new") for e in events],
        "user": [e.get("user") for e in events],
        "editor_type": [editor_type(e.get("user"), e.get("bot")) for e in events],
    }


def generate(n: int) -> pa.Table:
    """N sanitized rows over DAY: sample rows round-robin, fresh ids, times in order."""
    base = sample_columns()
    size = len(base["wiki"])
    index = np.arange(n, dtype=np.int64)
    pick = pa.array(index % size)
    copy = index // size
    # One keyed-hash-like value per (sample editor, variant): 100k hashes, not one per row.
    hashes = pa.array(
        [
            hashlib.sha256(f"{user}\x00{v}".encode()).hexdigest()[:32]
            for user in base["user"]
            for v in range(EDITOR_VARIANTS)
        ]
    )
    title_suffix = pc.cast(pa.array(copy % PAGE_VARIANTS), pa.string())
    columns = {
        "meta_id": pc.binary_join_element_wise("bench-", pc.cast(pa.array(index), pa.string()), ""),
        "dt": pa.array(
            int(DAY.timestamp()) * 1_000_000 + index * 86_400_000_000 // n,
            pa.timestamp("us", tz="UTC"),
        ),
        "wiki": pc.take(pa.array(base["wiki"]), pick),
        "type": pc.take(pa.array(base["type"]), pick),
        "namespace": pc.take(pa.array(base["namespace"], pa.int64()), pick),
        "title": pc.binary_join_element_wise(
            pc.take(pa.array(base["title"]), pick), title_suffix, "/"
        ),
        "rc_id": pa.array(index + 10**9),
        "bot": pc.take(pa.array(base["bot"], pa.bool_()), pick),
        "minor": pc.take(pa.array(base["minor"], pa.bool_()), pick),
        "length_old": pc.take(pa.array(base["length_old"], pa.int64()), pick),
        "length_new": pc.take(pa.array(base["length_new"], pa.int64()), pick),
        "revision_new": pc.add(
            pc.take(pa.array(base["revision_new"], pa.int64()), pick), pa.array(copy)
        ),
        "user_hash": pc.take(
            hashes, pa.array((index % size) * EDITOR_VARIANTS + copy % EDITOR_VARIANTS)
        ),
        "editor_type": pc.take(pa.array(base["editor_type"]), pick),
    }
    return pa.table(columns).cast(arrow_schema(recentchange_sanitized.columns))


def load(lake: Lake, n: int) -> None:
    """The generated day written into the lake's recentchange_sanitized table."""
    seconds, data = timed(lambda: generate(n))
    print(f"generated {n:,} rows in {seconds:.1f} s")
    seconds, table = timed(
        lambda: lake.replace_partition("mediawiki", recentchange_sanitized, DAY, END, data)
    )
    sizes = table.inspect.files()["file_size_in_bytes"].to_pylist()
    print(
        f"wrote them with pyiceberg in {seconds:.1f} s: {len(sizes)} files, "
        f"{sum(sizes) / 2**20:.0f} MiB"
    )


# ------------------------------------------------------------------ the three ways


def columns_used(*queries: str) -> tuple[str, ...]:
    """The input's declared columns the queries name (sqlglot), in declared order."""
    names = {
        column.name
        for query in queries
        for column in sqlglot.parse_one(query, read="duckdb").find_all(exp.Column)
    }
    return tuple(c.name for c in recentchange_sanitized.columns if c.name in names)


def lake_read(lake: Lake, columns: tuple[str, ...] | None = None) -> pa.Table:
    """(a)/(a2): the input as the builder reads it today, all declared (or only used) columns."""
    return lake.read("mediawiki", recentchange_sanitized, DAY, END, columns)


def window_files(lake: Lake) -> list[str]:
    """Local paths of the data files pyiceberg plans for the window (copy-on-write only)."""
    table = lake.table("mediawiki", recentchange_sanitized)
    tasks = list(table.scan(row_filter=window_filter("dt", DAY, END)).plan_files())
    if any(task.delete_files for task in tasks):
        raise RuntimeError("delete files: reading data files alone would be wrong")
    return [re.sub(r"^file:(//)?", "", task.file.file_path) for task in tasks]


def files_dataset(lake: Lake) -> ds.Dataset:
    """(a3): the input as a lazy Arrow dataset over the window's files, so that DuckDB scans
    only the columns it needs, in parallel, without the whole table being materialized first."""
    time_type = pa.timestamp("us", tz="UTC")
    files = ds.dataset(window_files(lake), schema=arrow_schema(recentchange_sanitized.columns))
    moment = ds.field("dt")
    return files.filter(
        (moment >= pa.scalar(DAY, time_type)) & (moment < pa.scalar(END, time_type))
    )


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Adds the block's wall time to PHASES[name] (the split of one way's time)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        PHASES[name] += time.perf_counter() - started


def platform_duckdb(lake: Lake, read: Callable[[], pa.Table | ds.Dataset]) -> dict[str, pa.Table]:
    """(a)/(a2)/(a3): what the builder does for each dataset on the day window: read the input,
    run the SQL with sdp.engine (TransformContext.sql), replace the window in the lake."""
    results = {}
    for dataset, query in DATASETS:
        with phase("read"):
            inputs = {INPUT: read()}
        with phase("sql"):
            result = TransformContext(f"mediawiki.{dataset.name}", inputs, DAY, END).sql(query)
        with phase("write"):
            lake.replace_partition("mediawiki", dataset, DAY, END, result)
        results[dataset.name] = result
    return results


def platform_duckdb_files(lake: Lake) -> dict[str, pa.Table]:
    """(a4): the transform's SQL as is, its input a DuckDB view reading the window's Parquet
    files itself (what sdp.engine could do instead of scanning Arrow read by pyiceberg)."""
    window = f"dt >= '{DAY.isoformat()}'::timestamptz and dt < '{END.isoformat()}'::timestamptz"
    results = {}
    for dataset, query in DATASETS:
        with phase("plan"):
            files = window_files(lake)
        with phase("read+sql"), duckdb.connect(":memory:") as connection:
            connection.execute("SET TimeZone = 'UTC'")
            connection.read_parquet(files).filter(window).create_view(INPUT)
            params = {k: v for k, v in {"start": DAY, "end": END}.items() if f"${k}" in query}
            result = connection.sql(query, params=params).to_arrow_table()
        with phase("write"):
            lake.replace_partition("mediawiki", dataset, DAY, END, result)
        results[dataset.name] = result
    return results


def hand_written(lake: Lake) -> dict[str, pa.Table]:
    """(b): DuckDB straight over the window's Parquet files, result to Arrow."""
    with phase("plan"):
        files = window_files(lake)
    results = {}
    with duckdb.connect(":memory:") as connection:
        connection.execute("SET TimeZone = 'UTC'")
        for name, period in HAND_WRITTEN.items():
            query = HAND_WRITTEN_SQL.format(period=period)
            params = {"files": files, "start": DAY, "end": END}
            results[name] = connection.sql(query, params=params).to_arrow_table()
    return results


def platform_spark(engine) -> dict[str, pa.Table]:
    """(c): the builder's Spark path; the rows are read back (untimed) for the comparison."""
    for dataset, query in DATASETS:
        result = engine.run_sql(query, {INPUT: ("mediawiki", recentchange_sanitized)}, DAY, END)
        engine.replace_partition("mediawiki", dataset, DAY, END, result)
    return {}


# ------------------------------------------------------------------ running


def timed(function: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def cpu_seconds() -> float:
    """CPU time used so far by this process (all its threads: DuckDB's, pyarrow's) and by the
    Spark JVM if one runs: less disturbed than wall time by other work on a shared machine."""
    used = time.process_time()
    from pyspark import SparkContext  # the JVM is the child that spark-submit exec'd into

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None) if gateway else None
    if proc is not None and proc.poll() is None:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def same_rows(left: pa.Table, right: pa.Table) -> bool:
    def key(row: dict) -> tuple:
        return tuple(str(v) for v in row.values())

    return sorted(left.to_pylist(), key=key) == sorted(right.to_pylist(), key=key)


def compare(label: str, lake: Lake, results: dict, limit: dict) -> None:
    for dataset, _ in DATASETS:
        expected = conform(limit[dataset.name], dataset, dataset.name)
        got = results.get(dataset.name)
        got = (
            conform(got, dataset, dataset.name)
            if got is not None
            else lake.read("mediawiki", dataset, DAY, END)
        )
        verdict = "same rows" if same_rows(got, expected) else "DIFFERENT ROWS"
        print(f"  check {label} {dataset.name}: {got.num_rows} rows, {verdict} as (b)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=2, help="interleaved runs of each way")
    parser.add_argument("--master", default="local[2]", help="Spark master")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary lake")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sdp-bench-recompute-"))
    lake = Lake(LakeConfig(f"sqlite:///{folder / 'catalog.db'}", (folder / "wh").as_uri()))
    try:
        load(lake, args.events)
        for dataset, _ in DATASETS:
            lake.table("mediawiki", dataset)  # the platform creates tables; engines only write

        used = columns_used(*{query for _, query in DATASETS})
        ways: dict[str, Callable[[], dict]] = {
            "a": lambda: platform_duckdb(lake, lambda: lake_read(lake)),
            "a2": lambda: platform_duckdb(lake, lambda: lake_read(lake, used)),
            "a3": lambda: platform_duckdb(lake, lambda: files_dataset(lake)),
            "a4": lambda: platform_duckdb_files(lake),
            "b": lambda: hand_written(lake),
        }
        engine = None
        if not args.no_spark:
            from sdp.spark import SparkEngine

            engine = SparkEngine(lake.config, master=args.master)
            seconds, _ = timed(lambda: engine.session)
            print(f"Spark session ({args.master}) started in {seconds:.1f} s")
            ways["c"] = lambda: platform_spark(engine)

        times: dict[str, list[float]] = {way: [] for way in ways}
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        for run in range(1, args.runs + 1):
            limit = None
            for way, function in sorted(ways.items(), key=lambda item: item[0] != "b"):
                PHASES.clear()
                cpu_before = cpu_seconds()
                seconds, results = timed(function)
                times[way].append(seconds)
                cpu[way].append(cpu_seconds() - cpu_before)
                split = ", ".join(f"{name} {t:.2f}" for name, t in PHASES.items())
                print(
                    f"run {run} ({way}): {seconds:.2f} s, CPU {cpu[way][-1]:.2f} s"
                    + (f"  (wall: {split})" if split else "")
                )
                if way == "b":
                    limit = results
                elif run == 1:
                    compare(way, lake, results, limit)
        report(args, times, "wall")
        report(args, cpu, "CPU")
    finally:
        if not args.no_spark:
            from sdp.spark import stop_session

            stop_session()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def report(args: argparse.Namespace, times: dict[str, list[float]], kind: str) -> None:
    """Best times, and ratios of times taken in the same run (the load of a shared machine
    drifts between runs, so pairs from one run compare better), with their median."""
    best = {way: min(values) for way, values in times.items()}
    print(f"\n{kind} time, N = {args.events:,} events, best of {args.runs} (runs in brackets):")
    labels = {
        "a": "(a) platform on DuckDB",
        "a2": "(a2) platform on DuckDB, Lake.read of the used columns only",
        "a3": "(a3) platform on DuckDB, input = Arrow dataset over the planned files",
        "a4": "(a4) platform SQL and write, DuckDB reading the planned files itself",
        "b": "(b) hand-written DuckDB over the Parquet files",
        "c": f"(c) platform on Spark {args.master}",
    }
    for way, label in labels.items():
        if way in best:
            runs = ", ".join(f"{t:.2f}" for t in times[way])
            print(f"  {label}: {best[way]:.2f} s  [{runs}]")
    pairs = [("a", "b"), ("a2", "b"), ("a3", "b"), ("a4", "b"), ("c", "a"), ("c", "b")]
    for top, bottom in pairs:
        if top in times and bottom in times:
            ratios = [t / b for t, b in zip(times[top], times[bottom], strict=True)]
            each = ", ".join(f"{r:.2f}" for r in ratios)
            target = " (target <= 1.3)" if (top, bottom) == ("a", "b") else ""
            print(
                f"  ratio ({top})/({bottom}): median {statistics.median(ratios):.2f}, "
                f"of best times {best[top] / best[bottom]:.2f}  [per run {each}]{target}"
            )


if __name__ == "__main__":
    main()
