"""The HTTP intake: `POST /v1/events`, compatible with Wikimedia's EventGate.

The body is one event or a JSON array of events; each names its stream and schema. Answers:
201 all accepted, 207 some accepted (the others listed with their errors), 400 none accepted,
202 with `?hasty=true` (answered before Kafka acknowledges). Producers authenticate with a bearer
token that may write only to the streams configured for it (401 unknown token, 403 stream not
allowed). Oversized bodies get 413, malformed JSON 400; invalid events go to the error stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sdp.producer import EventProducer

DEFAULT_MAX_BODY_BYTES = 4 << 20  # 4 MiB, EventGate's default body limit


@dataclass(frozen=True)
class IntakeSettings:
    tokens: Mapping[str, frozenset[str]]  # token -> streams it may write ("*" for all)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_file(cls, path: Path | str) -> IntakeSettings:
        """Read `tokens: {token: [stream, ...]}` and optional `max_body_bytes` from YAML."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"intake settings {path}: {error}") from None
        tokens = data.get("tokens")
        if not isinstance(tokens, dict) or not tokens:
            raise ValueError(f"intake settings {path}: 'tokens' must map tokens to stream lists")
        for streams in tokens.values():
            if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
                raise ValueError(f"intake settings {path}: streams of a token must be a list")
        return cls(
            {str(t): frozenset(s) for t, s in tokens.items()},
            int(data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
        )

    def allows(self, token: str, stream: str) -> bool:
        streams = self.tokens.get(token, frozenset())
        return "*" in streams or stream in streams


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(producer: EventProducer, settings: IntakeSettings) -> FastAPI:
    app = FastAPI(title="SDP intake", description=__doc__)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/streams")
    def streams() -> list[dict]:
        return [
            {"stream": s.name, "topic": s.topic_name, "schemas": list(s.schema_uris)}
            for s in producer.streams.values()
        ]

    @app.post("/v1/events")
    async def post_events(request: Request, hasty: bool = False) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip()
        if not token or token not in settings.tokens:
            return error(401, "missing or unknown token: send 'Authorization: Bearer <token>'")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return error(
                413, f"body is {declared} bytes, over the limit of {settings.max_body_bytes}"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                return error(413, f"body is over the limit of {settings.max_body_bytes} bytes")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as problem:
            return error(400, f"malformed JSON: {problem}")
        events = parsed if isinstance(parsed, list) else [parsed]
        if not events:
            return error(400, "no events in the body")
        named = {
            e["meta"].get("stream")
            for e in events
            if isinstance(e, dict) and isinstance(e.get("meta"), dict)
        }
        forbidden = sorted(
            s
            for s in named
            if isinstance(s, str) and s in producer.streams and not settings.allows(token, s)
        )
        if forbidden:
            return error(403, f"this token may not write to stream(s) {', '.join(forbidden)}")
        outcomes = await run_in_threadpool(producer.send, events, not hasty)
        invalid = [
            {"index": o.index, "stream": o.stream, "error": o.error} for o in outcomes if o.error
        ]
        accepted = len(outcomes) - len(invalid)
        body_out = {"accepted": accepted, "invalid": invalid}
        if hasty:
            return JSONResponse(body_out, status_code=202)
        if not invalid:
            return JSONResponse(body_out, status_code=201)
        return JSONResponse(body_out, status_code=207 if accepted else 400)

    return app
