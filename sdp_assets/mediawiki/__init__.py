"""Domain mediawiki: MediaWiki's recent changes, from raw events to public edit statistics."""

from sdp import Domain
from sdp_assets.mediawiki.datasets import (
    edits_daily,
    edits_hourly,
    recentchange,
    recentchange_sanitized,
    recentchange_stream,
)

DOMAIN = Domain(
    name="mediawiki",
    description="Edits and other changes on Wikimedia wikis, as events and statistics.",
    owners=("team:mediawiki-platform",),
    datasets=(recentchange, recentchange_sanitized, edits_hourly, edits_daily),
    streams=(recentchange_stream,),
)
