"""The mediawiki domain's datasets: raw recent changes, their public copy, edit statistics."""

from datetime import timedelta

from sdp import (
    Column,
    Dataset,
    DbtModel,
    Expectation,
    ExpectationSuite,
    Python,
    Sql,
    SqlCheck,
    Stream,
    StreamSource,
    daily,
    hourly,
    ref,
)
from sdp_assets.mediawiki.sanitize import sanitize

OWNERS = ("team:mediawiki-platform",)
FIRST_HOUR = "2026-09-01-00:00"
FIRST_DAY = "2026-09-01"


def is_canary(event) -> bool:
    """Synthetic events sent to check the pipeline; they are not edits."""
    return event.get("meta", {}).get("domain") == "canary"


recentchange_stream = Stream(
    name="mediawiki.recentchange",
    description="Every change on every wiki, as MediaWiki's RCFeed emits it.",
    schema_title="mediawiki/recentchange",
    versions=("1.0.0", "1.0.1"),
    owners=OWNERS,
    classification="private",
)

recentchange = Dataset(
    name="recentchange",
    description=(
        "Raw MediaWiki recent changes (edits, page creations, log actions, categorizations), one "
        "row per event, deduplicated on meta.id, canary events removed. Private: it names the "
        "editor, which for anonymous edits is an IP address."
    ),
    owners=OWNERS,
    classification="private",
    tier="bronze",
    columns=(
        Column("meta_id", "string", "public", "Unique event id (meta.id)", "meta.id", False),
        Column("dt", "timestamp", "public", "Event time (meta.dt)", "meta.dt", False),
        Column("meta_domain", "string", "public", "Domain the event pertains to", "meta.domain"),
        Column(
            "meta_stream", "string", "public", "Stream the event was produced to", "meta.stream"
        ),
        Column("rc_id", "int64", "public", "Recent change id (rcid)", "id"),
        Column("type", "string", "public", "edit, new, log, categorize or external", "type"),
        Column("namespace", "int64", "public", "Namespace id of the page"),
        Column("title", "string", "public", "Full page name"),
        Column("comment", "string", "public", "Edit summary"),
        Column("user", "string", "private", "User name, or IP address of an anonymous editor"),
        Column("bot", "bool", "public", "Made by a bot account"),
        Column("minor", "bool", "public", "Marked as a minor edit"),
        Column("patrolled", "bool", "internal", "Patrolled by a reviewer"),
        Column("length_old", "int64", "public", "Page length in bytes before", "length.old"),
        Column("length_new", "int64", "public", "Page length in bytes after", "length.new"),
        Column("revision_old", "int64", "public", "Revision id before", "revision.old"),
        Column("revision_new", "int64", "public", "Revision id after", "revision.new"),
        Column("server_name", "string", "public", "Host name of the wiki"),
        Column("wiki", "string", "public", "Database name of the wiki, e.g. enwiki"),
        Column("log_type", "string", "public", "Log type of log events"),
        Column("log_action", "string", "public", "Log action of log events"),
    ),
    partitioning=hourly("dt", FIRST_HOUR),
    freshness=timedelta(hours=2),
    retention=timedelta(days=90),
    source=StreamSource("mediawiki.recentchange", id_field="meta.id", drop=is_canary),
    checks=(
        SqlCheck(
            "unique_event_ids",
            "select meta_id, count(*) as copies from dataset group by meta_id having count(*) > 1",
            "No event is stored twice (deduplication on meta.id).",
        ),
        ExpectationSuite(
            "event_fields",
            (
                Expectation("ExpectColumnValuesToNotBeNull", {"column": "wiki"}),
                Expectation(
                    "ExpectColumnValuesToBeInSet",
                    {
                        "column": "type",
                        "value_set": ["edit", "new", "log", "categorize", "external"],
                    },
                ),
            ),
            "Every event names its wiki and has a known change type (Great Expectations).",
        ),
    ),
)

recentchange_sanitized = Dataset(
    name="recentchange_sanitized",
    description=(
        "Public copy of recent changes: no user names or IP addresses; each editor is a keyed "
        "hash and typed as user, bot or anonymous (IP address or temporary account)."
    ),
    owners=OWNERS,
    classification="public",
    tier="silver",
    columns=(
        Column("meta_id", "string", "public", "Unique event id", nullable=False),
        Column("dt", "timestamp", "public", "Event time", nullable=False),
        Column("wiki", "string", "public", "Database name of the wiki"),
        Column("type", "string", "public", "edit, new, log, categorize or external"),
        Column("namespace", "int64", "public", "Namespace id of the page"),
        Column("title", "string", "public", "Full page name"),
        Column("rc_id", "int64", "public", "Recent change id"),
        Column("bot", "bool", "public", "Made by a bot account"),
        Column("minor", "bool", "public", "Marked as a minor edit"),
        Column("length_old", "int64", "public", "Page length in bytes before"),
        Column("length_new", "int64", "public", "Page length in bytes after"),
        Column("revision_new", "int64", "public", "Revision id after"),
        Column("user_hash", "string", "public", "Keyed HMAC-SHA256 of the user name"),
        Column("editor_type", "string", "public", "user, bot or anonymous"),
    ),
    partitioning=hourly("dt", FIRST_HOUR),
    freshness=timedelta(hours=2),
    retention=timedelta(days=365 * 5),
    transform=Python(sanitize),
    upstream=(ref("mediawiki.recentchange"),),
    checks=(
        SqlCheck(
            "editor_type_known",
            "select * from dataset where editor_type not in ('user', 'bot', 'anonymous')",
            "Every change is attributed to a known editor type.",
        ),
    ),
)

edits_hourly = Dataset(
    name="edits_hourly",
    description=(
        "Edits (edit and new-page changes), distinct editors, distinct pages and net bytes changed "
        "per wiki, hour and editor type, like Wikimedia's edit-metrics API."
    ),
    owners=OWNERS,
    classification="public",
    tier="gold",
    columns=(
        Column("hour", "timestamp", "public", "Start of the hour (UTC)", nullable=False),
        Column("wiki", "string", "public", "Database name of the wiki", nullable=False),
        Column("editor_type", "string", "public", "user, bot or anonymous", nullable=False),
        Column("edits", "int64", "public", "Number of edits and page creations"),
        Column("editors", "int64", "public", "Distinct editors"),
        Column("pages", "int64", "public", "Distinct pages edited"),
        Column("net_bytes", "int64", "public", "Sum of page length changes in bytes"),
    ),
    partitioning=hourly("hour", FIRST_HOUR),
    freshness=timedelta(hours=3),
    retention=timedelta(days=365 * 5),
    transform=Sql(
        """
        select
            date_trunc('hour', dt) as hour,
            wiki,
            editor_type,
            count(*) as edits,
            count(distinct user_hash) as editors,
            count(distinct namespace::varchar || ':' || title) as pages,
            coalesce(sum(coalesce(length_new, 0) - coalesce(length_old, 0)), 0) as net_bytes
        from recentchange_sanitized
        where type in ('edit', 'new')
        group by all
        """
    ),
    upstream=(ref("mediawiki.recentchange_sanitized"),),
    checks=(
        SqlCheck(
            "counts_consistent",
            "select * from dataset where edits <= 0 or editors > edits or pages > edits",
            "Every row counts at least one edit, and no more editors or pages than edits.",
        ),
    ),
)

edits_daily = Dataset(
    name="edits_daily",
    description=(
        "Edits, distinct editors, distinct pages and net bytes changed per wiki, day and editor "
        "type (a dbt model; distinct counts are per day, not sums of hours)."
    ),
    owners=OWNERS,
    classification="public",
    tier="gold",
    columns=(
        Column("day", "timestamp", "public", "Start of the day (UTC)", nullable=False),
        Column("wiki", "string", "public", "Database name of the wiki", nullable=False),
        Column("editor_type", "string", "public", "user, bot or anonymous", nullable=False),
        Column("edits", "int64", "public", "Number of edits and page creations"),
        Column("editors", "int64", "public", "Distinct editors"),
        Column("pages", "int64", "public", "Distinct pages edited"),
        Column("net_bytes", "int64", "public", "Sum of page length changes in bytes"),
    ),
    partitioning=daily("day", FIRST_DAY),
    freshness=timedelta(hours=26),
    retention=timedelta(days=365 * 5),
    transform=DbtModel("edits_daily"),
    upstream=(ref("mediawiki.recentchange_sanitized"),),
)
