-- Edit statistics per wiki, day and editor type, like Wikimedia's edit-metrics API.
-- Distinct editors and pages are counted per day, so this is computed from events, not hours.
{{ config(
    materialized="incremental",
    incremental_strategy="append",
    pre_hook="{% if is_incremental() %}delete from {{ this }} where day >= '{{ var('start') }}'::timestamptz and day < '{{ var('end') }}'::timestamptz{% endif %}",
) }}

select
    date_trunc('day', dt) as day,
    wiki,
    editor_type,
    count(*) as edits,
    count(distinct user_hash) as editors,
    count(distinct namespace::varchar || ':' || title) as pages,
    coalesce(sum(coalesce(length_new, 0) - coalesce(length_old, 0)), 0) as net_bytes
from {{ source('mediawiki', 'recentchange_sanitized') }}
where type in ('edit', 'new')
  and dt >= '{{ var("start") }}'::timestamptz
  and dt < '{{ var("end") }}'::timestamptz
group by all
