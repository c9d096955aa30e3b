"""Sanitizing recent changes for the public: user names become keyed hashes.

Anonymous editors are identified by IP address, or since 2025 by a temporary account ("~2025-…");
both are marked anonymous. The HMAC key comes from the environment, so hashes are stable across
runs but cannot be reversed by a dictionary attack without it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pyarrow as pa

from sdp import TransformContext

USER_HASH_KEY = "SDP_USER_HASH_KEY"
# Columns of recentchange that are public as they are.
PUBLIC_COLUMNS = (
    "meta_id",
    "dt",
    "wiki",
    "type",
    "namespace",
    "title",
    "rc_id",
    "bot",
    "minor",
    "length_old",
    "length_new",
    "revision_new",
)


def editor_type(user: str | None, bot: bool | None) -> str:
    if bot:
        return "bot"
    if user is None or is_anonymous(user):
        return "anonymous"
    return "user"


def is_anonymous(user: str) -> bool:
    if user.startswith("~"):  # temporary accounts, which replace IP addresses as identities
        return True
    try:
        ipaddress.ip_address(user)
    except ValueError:
        return False
    return True


def user_hash(key: bytes, user: str | None) -> str | None:
    if user is None:
        return None
    return hmac.new(key, user.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def sanitize(context: TransformContext) -> pa.Table:
    """Public copy of recentchange: every private column dropped, users hashed and typed."""
    key = context.secret(USER_HASH_KEY).encode("utf-8")
    raw = context.inputs["recentchange"]
    users = raw["user"].to_pylist()
    bots = raw["bot"].to_pylist()
    hashes = {u: user_hash(key, u) for u in set(users)}  # one HMAC per distinct editor
    public = raw.select(list(PUBLIC_COLUMNS))
    return public.append_column(
        "user_hash", pa.array([hashes[u] for u in users], pa.string())
    ).append_column(
        "editor_type",
        pa.array([editor_type(u, b) for u, b in zip(users, bots, strict=True)], pa.string()),
    )
