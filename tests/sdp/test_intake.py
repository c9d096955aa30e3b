"""The HTTP intake on a real broker: statuses, messages, the error stream."""

import json

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from sdp.producer import ERROR_STREAM
from tests.conftest import sample_events

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer all-token"}


def read_topic(broker, topic: str) -> list[dict]:
    consumer = Consumer({**broker.config, "group.id": "test-reader", "enable.auto.commit": False})
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, 0)])
    events = []
    while len(events) < high:
        for message in consumer.consume(num_messages=1000, timeout=5):
            if message.error() is None:
                events.append(orjson.loads(message.value()))
    consumer.close()
    return events


def test_all_valid_events_are_accepted_with_201(streaming, intake):
    events = sample_events()[:100]
    response = httpx.post(intake, json=events, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": 100, "invalid": []}
    stored = read_topic(streaming.kafka, "mediawiki.recentchange")
    assert [e["meta"]["id"] for e in stored] == [e["meta"]["id"] for e in events]


def test_partly_invalid_batch_gets_207_and_invalid_events_go_to_the_error_stream(streaming, intake):
    good = sample_events()[0]
    bad = json.loads(json.dumps(sample_events()[1]))
    bad["namespace"] = "main"
    response = httpx.post(intake, json=[good, bad], headers=AUTH)
    assert response.status_code == 207
    (invalid,) = response.json()["invalid"]
    assert invalid["index"] == 1 and "namespace must be integer" in invalid["error"]
    (error,) = read_topic(streaming.kafka, ERROR_STREAM)
    assert error["$schema"] == "/error/2.1.0"
    assert error["errored_stream_name"] == "mediawiki.recentchange"
    assert error["errored_schema_uri"] == "/mediawiki/recentchange/1.0.0"
    assert "namespace must be integer" in error["message"]
    assert json.loads(error["raw_event"])["meta"]["id"] == bad["meta"]["id"]


def test_missing_meta_id_and_dt_are_filled(streaming, intake):
    event = json.loads(json.dumps(sample_events()[0]))
    del event["meta"]["id"], event["meta"]["dt"]
    assert httpx.post(intake, json=event, headers=AUTH).status_code == 201
    (stored,) = read_topic(streaming.kafka, "mediawiki.recentchange")
    assert len(stored["meta"]["id"]) == 36 and stored["meta"]["dt"].endswith("Z")


def test_hasty_answers_202(streaming, intake):
    response = httpx.post(intake, params={"hasty": "true"}, json=sample_events()[:5], headers=AUTH)
    assert response.status_code == 202
    assert response.json()["accepted"] == 5


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"[{", AUTH, 400, "malformed JSON"),
        (b"[]", AUTH, 400, "no events in the body"),
        (b"[1]", AUTH, 400, "expected a JSON object"),
        (b'[{"meta": {"stream": "nope.stream"}}]', AUTH, 400, "unknown stream 'nope.stream'"),
        (b"[]", {}, 401, "missing or unknown token"),
        (b"[]", {"Authorization": "Bearer wrong"}, 401, "missing or unknown token"),
        (
            json.dumps(sample_events()[:1]).encode(),
            {"Authorization": "Bearer other-token"},
            403,
            "may not write to stream(s) mediawiki.recentchange",
        ),
        (b"[" + b" " * 1_000_001 + b"]", AUTH, 413, "over the limit of 1000000"),
    ],
)
def test_bad_requests_get_a_status_and_a_message(streaming, intake, body, headers, status, message):
    response = httpx.post(intake, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.text
    assert read_topic(streaming.kafka, "mediawiki.recentchange") == []


def test_oversized_event_is_refused_by_name(streaming, intake):
    event = json.loads(json.dumps(sample_events()[0]))
    event["comment"] = "x" * 1_100_000
    response = httpx.post(intake, json=[event], headers=AUTH)
    assert response.status_code == 413  # the body limit (1 MB here) catches it first
