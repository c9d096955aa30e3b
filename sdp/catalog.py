"""The index of every declared dataset: resolves references and asset keys across domains."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dagster import AssetKey

from sdp.spec import (
    Dataset,
    DatasetRef,
    Domain,
    SpecError,
    Sql,
    SqlCheck,
    Stream,
    StreamSource,
    ref,
    validate_domain,
)
from sdp.sql import check_inputs


def check_sql(entry: Entry) -> None:
    """Transform and check SQL parse and read only their inputs (at load, not at run time)."""
    dataset = entry.dataset
    if isinstance(dataset.transform, Sql):
        check_inputs(
            dataset.transform.query, [r.name for r in dataset.upstream], entry.qualified_name
        )
    for check in dataset.checks:
        if isinstance(check, SqlCheck):
            check_inputs(check.sql, ["dataset"], f"{entry.qualified_name} check {check.name}")


@dataclass(frozen=True)
class Entry:
    domain: Domain
    dataset: Dataset

    @property
    def qualified_name(self) -> str:
        return f"{self.domain.name}.{self.dataset.name}"

    @property
    def key(self) -> AssetKey:
        return AssetKey([self.domain.name, self.dataset.name])


class DatasetIndex:
    """All datasets of all domains, validated: every reference resolves, no cycle of names."""

    def __init__(self, domains: Sequence[Domain]):
        self._entries: dict[DatasetRef, Entry] = {}
        self.streams: dict[str, Stream] = {}
        self.stream_domains: dict[str, Domain] = {}
        names = [d.name for d in domains]
        if len(set(names)) != len(names):
            raise SpecError(f"domain declared twice among {names}")
        for domain in domains:
            validate_domain(domain)
            for dataset in domain.datasets:
                self._entries[DatasetRef(domain.name, dataset.name)] = Entry(domain, dataset)
            for stream in domain.streams:
                if stream.name in self.streams:
                    raise SpecError(f"stream {stream.name} declared twice")
                self.streams[stream.name] = stream
                self.stream_domains[stream.name] = domain
        for entry in self:
            for upstream in entry.dataset.upstream:
                if upstream not in self._entries:
                    raise SpecError(
                        f"{entry.qualified_name}: upstream dataset {upstream} is not declared "
                        "by any domain"
                    )
            check_sql(entry)
            source = entry.dataset.source
            if isinstance(source, StreamSource) and source.stream not in self.streams:
                raise SpecError(
                    f"{entry.qualified_name}: source stream {source.stream} is not declared "
                    "by any domain"
                )

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, reference: DatasetRef | str) -> Entry:
        reference = ref(reference) if isinstance(reference, str) else reference
        try:
            return self._entries[reference]
        except KeyError:
            raise SpecError(f"unknown dataset {reference}") from None

    def key(self, reference: DatasetRef | str) -> AssetKey:
        return self.get(reference).key

    def stream_of(self, entry: Entry) -> Stream | None:
        source = entry.dataset.source
        return self.streams[source.stream] if isinstance(source, StreamSource) else None

    def downstream(self, reference: DatasetRef) -> list[Entry]:
        return [e for e in self if reference in e.dataset.upstream]
