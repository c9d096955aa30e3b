"""Per-editor daily activity features, from the public recent changes of the mediawiki domain."""

from datetime import timedelta

from sdp import Column, Dataset, Sql, SqlCheck, daily, ref

editor_daily_activity = Dataset(
    name="editor_daily_activity",
    description=(
        "One row per editor (keyed hash), wiki and day: edits, pages, bytes changed, active hours "
        "and first/last edit time. Internal: pseudonymous per-person activity."
    ),
    owners=("team:editor-growth", "editor-growth@example.org"),
    classification="internal",
    tier="gold",
    columns=(
        Column("day", "timestamp", "public", "Start of the day (UTC)", nullable=False),
        Column("wiki", "string", "public", "Database name of the wiki", nullable=False),
        Column("user_hash", "string", "internal", "Keyed hash of the editor", nullable=False),
        Column("editor_type", "string", "public", "user, bot or anonymous"),
        Column("edits", "int64", "internal", "Edits and page creations that day"),
        Column("pages", "int64", "internal", "Distinct pages edited"),
        Column("pages_created", "int64", "internal", "Pages created"),
        Column("net_bytes", "int64", "internal", "Sum of page length changes in bytes"),
        Column("active_hours", "int64", "internal", "Distinct hours with an edit"),
        Column("first_edit", "timestamp", "internal", "Time of the first edit that day"),
        Column("last_edit", "timestamp", "internal", "Time of the last edit that day"),
    ),
    partitioning=daily("day", "2026-09-01"),
    freshness=timedelta(hours=30),
    retention=timedelta(days=365 * 2),
    transform=Sql(
        """
        select
            date_trunc('day', dt) as day,
            wiki,
            user_hash,
            any_value(editor_type) as editor_type,
            count(*) as edits,
            count(distinct namespace::varchar || ':' || title) as pages,
            count(*) filter (where type = 'new') as pages_created,
            coalesce(sum(coalesce(length_new, 0) - coalesce(length_old, 0)), 0) as net_bytes,
            count(distinct date_trunc('hour', dt)) as active_hours,
            min(dt) as first_edit,
            max(dt) as last_edit
        from recentchange_sanitized
        where type in ('edit', 'new') and user_hash is not null
        group by all
        """
    ),
    upstream=(ref("mediawiki.recentchange_sanitized"),),
    checks=(
        SqlCheck(
            "one_row_per_editor_day",
            "select day, wiki, user_hash from dataset group by all having count(*) > 1",
            "Each editor has at most one row per wiki and day.",
        ),
        SqlCheck(
            "activity_consistent",
            "select * from dataset where edits <= 0 or pages > edits or first_edit > last_edit",
            "Counts and times are consistent.",
        ),
    ),
)
