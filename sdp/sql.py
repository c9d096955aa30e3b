"""Transform SQL, written once in DuckDB's dialect: checked at load time, translated for Spark.

SQLGlot parses the query when the code location loads, so a query that does not parse, or that
reads a table that is not one of the dataset's declared inputs, fails the load with an error
naming the dataset instead of failing a run hours later.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from sdp.spec import SpecError

DIALECT = "duckdb"


def tables_read(query: str, where: str) -> set[str]:
    """Names of the tables a query reads (CTEs excluded); SpecError if it does not parse."""
    try:
        statements = sqlglot.parse(query, read=DIALECT)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        detail = first.get("description") or str(error).splitlines()[0]
        line = first.get("line")
        raise SpecError(
            f"{where}: transform SQL does not parse"
            + (f" (line {line})" if line else "")
            + f": {detail}"
        ) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SpecError(f"{where}: transform SQL must be exactly one SELECT query")
    tree = statements[0]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def check_inputs(query: str, inputs: Iterable[str], where: str) -> None:
    """The query reads only declared inputs."""
    unknown = sorted(tables_read(query, where) - set(inputs))
    if unknown:
        raise SpecError(
            f"{where}: transform SQL reads {', '.join(unknown)}, which is not an input; "
            f"inputs are {', '.join(sorted(inputs)) or 'none'}"
        )


def columns_read(query: str) -> set[str] | None:
    """Column names a query mentions, or None when it selects `*` (then it needs them all).

    The lake reads only these columns of the inputs: a scan of 14 columns where 6 are used
    costs twice the I/O and memory for nothing.
    """
    tree = sqlglot.parse_one(query, read=DIALECT)
    if any(isinstance(star, exp.Star) for star in tree.find_all(exp.Star)):
        return None
    return {column.name for column in tree.find_all(exp.Column)}
