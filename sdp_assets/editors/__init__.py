"""Domain editors: activity features per editor, owned by the editor-growth team.

It consumes the mediawiki domain's public recent changes, so its lineage crosses domains.
"""

from sdp import Domain
from sdp_assets.editors.datasets import editor_daily_activity

DOMAIN = Domain(
    name="editors",
    description="Editor activity features for retention and growth analyses.",
    owners=("team:editor-growth",),
    datasets=(editor_daily_activity,),
)
