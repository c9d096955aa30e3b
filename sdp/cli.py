"""`sdp`: the platform's command line.

It finds the datasets the way the `dagster` CLI finds assets: by loading the code location named in
workspace.yaml (its module provides `defs()` and `domains()`), never by importing a domain itself.

    sdp datasets                         list every dataset with owners and policies
    sdp show mediawiki.recentchange      one dataset: description, columns, location
    sdp load mediawiki.recentchange events.jsonl [--materialize]
    sdp land mediawiki.recentchange      land what is new (staged files, Kafka), build downstream
    sdp intake --tokens deploy/intake.local.yaml      serve POST /v1/events
    sdp replay events.jsonl --token T [--now]         post a file of events to the intake
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from sdp.catalog import DatasetIndex, Entry
from sdp.events import EventDecoder, column_value, split_lines
from sdp.ingestion import landing_job_name
from sdp.location import LocationError, load_location
from sdp.spec import SpecError, ref


class CliError(RuntimeError):
    pass


def _index(location: ModuleType) -> DatasetIndex:
    return DatasetIndex(location.domains())


def _describe(entry: Entry) -> dict:
    dataset = entry.dataset
    return {
        "dataset": entry.qualified_name,
        "asset_key": "/".join(entry.key.path),
        "description": dataset.description,
        "owners": list(dataset.owners),
        "classification": dataset.classification,
        "tier": dataset.tier,
        "partitioning": f"{dataset.partitioning.granularity} on {dataset.partitioning.time_column}",
        "freshness_slo": str(dataset.freshness),
        "retention_days": dataset.retention.days,
        "upstream": [str(r) for r in dataset.upstream],
        "checks": ["schema_contract", *(c.name for c in dataset.checks)],
        "columns": [
            {"name": c.name, "type": c.type, "classification": c.classification}
            for c in dataset.columns
        ],
    }


def cmd_datasets(args: argparse.Namespace) -> int:
    entries = [_describe(e) for e in _index(load_location(args.workspace))]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        print(
            f"{e['dataset']:<34} {e['classification']:<9} {e['partitioning']:<20} "
            f"fresh<{e['freshness_slo']:<9} owners={','.join(e['owners'])}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    entry = _index(load_location(args.workspace)).get(args.dataset)
    print(json.dumps(_describe(entry), indent=2))
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    location = load_location(args.workspace)
    index = _index(location)
    entry = index.get(args.dataset)
    if entry.dataset.source is None:
        raise CliError(f"{entry.qualified_name} is derived from other datasets; load its sources")
    defs = location.defs()
    lakehouse = defs.resources["lakehouse"]
    staged, new = lakehouse.staging().stage(entry.domain.name, entry.dataset.name, Path(args.file))
    decoder = EventDecoder.for_source(entry.dataset.source, lakehouse.schemas(), index.streams)
    decoded = decoder.decode(split_lines(staged.name, staged.read_bytes()))
    time_column = entry.dataset.column(entry.dataset.partitioning.time_column)
    times = [column_value(e, time_column) for e in decoded.events]
    print(f"{'staged' if new else 'already staged'}: {staged}")
    print(
        f"valid events: {len(decoded.events)}, rejected: {len(decoded.rejected)}, "
        f"dropped on purpose: {decoded.dropped}, duplicates: {decoded.duplicates}"
    )
    for reason, count in Counter(r.reason for r in decoded.rejected).most_common(10):
        print(f"  rejected {count}x: {reason}")
    from sdp.runs import partition_keys

    print(f"partitions touched: {', '.join(partition_keys(entry, times)) or 'none'}")
    if not args.materialize:
        print(f"the landing job {landing_job_name(entry)} lands it (or load with --materialize)")
        return 0
    return _land_and_materialize(defs, index, entry, topic=False)


def cmd_land(args: argparse.Namespace) -> int:
    location = load_location(args.workspace)
    index = _index(location)
    entry = index.get(args.dataset)
    if entry.dataset.source is None:
        raise CliError(f"{entry.qualified_name} is derived from other datasets: nothing to land")
    return _land_and_materialize(location.defs(), index, entry, topic=not args.files_only)


def _land_and_materialize(defs, index: DatasetIndex, entry: Entry, topic: bool) -> int:
    """Land new input of an ingested dataset, then build every partition it touched downstream."""
    if not os.environ.get("DAGSTER_HOME"):
        raise CliError("runs are recorded in the Dagster instance: set DAGSTER_HOME")
    import dagster as dg

    from sdp.runs import land, materialize_touched

    with dg.DagsterInstance.get() as instance:
        landing, starts = land(defs, entry, instance, topic=topic)
        if not landing.success:
            print(f"landing run {landing.run_id} failed", file=sys.stderr)
            return 1
        reference = ref(entry.qualified_name)
        results = materialize_touched(defs, index, reference, starts, instance)
    failed = [r.run_id for r in results if not r.success]
    print(f"landed into {len(starts)} partitions; runs: {len(results)}, failed: {len(failed)}")
    return 1 if failed else 0


def _producer(location: ModuleType, emitter_id: str):
    from sdp.producer import EventProducer, ensure_topics

    index = _index(location)
    resources = location.defs().resources
    kafka_config = resources["kafka"].client_config()
    ensure_topics(kafka_config, list(index.streams.values()))
    return EventProducer(kafka_config, index.streams, resources["lakehouse"].schemas(), emitter_id)


def cmd_intake(args: argparse.Namespace) -> int:
    import uvicorn

    from sdp.intake import IntakeSettings, create_app

    tokens = args.tokens or os.environ.get("SDP_INTAKE_TOKENS_FILE")
    if not tokens:
        raise CliError("give the producers' tokens: --tokens FILE or SDP_INTAKE_TOKENS_FILE")
    try:
        settings = IntakeSettings.from_file(tokens)
    except ValueError as problem:
        raise CliError(str(problem)) from None
    app = create_app(_producer(load_location(args.workspace), "sdp-intake"), settings)
    print(f"intake: http://{args.host}:{args.port}/v1/events")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Post a file of events to the intake in batches (with --now: as if they happened now)."""
    import uuid

    import httpx

    from sdp.producer import now_iso

    lines = [line for line in Path(args.file).read_bytes().splitlines() if line.strip()]
    sent = accepted = 0
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(lines), args.batch):
            batch = [json.loads(line) for line in lines[start : start + args.batch]]
            if args.now:
                for event in batch:
                    event["meta"].update(id=str(uuid.uuid4()), dt=now_iso())
            response = client.post(
                args.url, json=batch, headers={"Authorization": f"Bearer {args.token}"}
            )
            if response.status_code not in (201, 202, 207):
                raise CliError(f"intake answered {response.status_code}: {response.text[:300]}")
            sent += len(batch)
            accepted += response.json().get("accepted", 0)
    print(f"posted {sent} events, {accepted} accepted")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sdp", description="Shared Data Platform")
    top.add_argument(
        "-w", "--workspace", type=Path, default=Path("workspace.yaml"), help="workspace.yaml"
    )
    commands = top.add_subparsers(dest="command", required=True)
    datasets = commands.add_parser("datasets", help="list every dataset")
    datasets.add_argument("--json", action="store_true")
    datasets.set_defaults(run=cmd_datasets)
    show = commands.add_parser("show", help="describe one dataset (domain.name)")
    show.add_argument("dataset")
    show.set_defaults(run=cmd_show)
    load = commands.add_parser("load", help="stage a JSON-lines file for an ingested dataset")
    load.add_argument("dataset", help="domain.name, e.g. mediawiki.recentchange")
    load.add_argument("file", help="a file of JSON lines")
    load.add_argument(
        "--materialize", action="store_true", help="materialize touched partitions and downstream"
    )
    load.set_defaults(run=cmd_load)
    land_parser = commands.add_parser(
        "land", help="land new input of an ingested dataset and build what it touched"
    )
    land_parser.add_argument("dataset", help="domain.name, e.g. mediawiki.recentchange")
    land_parser.add_argument("--files-only", action="store_true", help="staged files, no Kafka")
    land_parser.set_defaults(run=cmd_land)
    intake = commands.add_parser("intake", help="serve the HTTP intake (POST /v1/events)")
    intake.add_argument("--host", default="127.0.0.1")
    intake.add_argument("--port", type=int, default=8192)
    intake.add_argument("--tokens", help="YAML file of producer tokens and their streams")
    intake.set_defaults(run=cmd_intake)
    replay = commands.add_parser("replay", help="post a file of events to the intake")
    replay.add_argument("file")
    replay.add_argument("--url", default="http://127.0.0.1:8192/v1/events")
    replay.add_argument("--token", default=os.environ.get("SDP_INTAKE_TOKEN", ""))
    replay.add_argument("--batch", type=int, default=100)
    replay.add_argument("--now", action="store_true", help="fresh ids, event time now")
    replay.set_defaults(run=cmd_replay)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from dotenv import load_dotenv  # like `dagster dev`, read secrets from ./.env

    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        return args.run(args)
    except (CliError, LocationError, SpecError, FileNotFoundError) as error:
        print(f"sdp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
