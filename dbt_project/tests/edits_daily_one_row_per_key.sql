-- One row per (day, wiki, editor_type): a re-run of a day must replace it, never add to it.
select day, wiki, editor_type, count(*) as rows_per_key
from {{ ref('edits_daily') }}
group by all
having count(*) > 1
