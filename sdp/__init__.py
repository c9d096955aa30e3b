"""SDP platform core: the public API that domain packages import.

Domains declare `DOMAIN = Domain(...)` with `Dataset` specs; everything else (assets, checks,
lake tables, catalog entries) is derived by the platform.
"""

from sdp.source import source
from sdp.spec import (
    Column,
    Dataset,
    DbtModel,
    Domain,
    Expectation,
    ExpectationSuite,
    JsonLinesSource,
    Python,
    SpecError,
    Sql,
    SqlCheck,
    Stream,
    StreamSource,
    daily,
    hourly,
    ref,
)
from sdp.transform import TransformContext

__all__ = [
    "Column",
    "Dataset",
    "DbtModel",
    "Domain",
    "Expectation",
    "ExpectationSuite",
    "JsonLinesSource",
    "Python",
    "SpecError",
    "Sql",
    "SqlCheck",
    "Stream",
    "StreamSource",
    "TransformContext",
    "daily",
    "hourly",
    "ref",
    "source",
]
