#!/usr/bin/env bash
# The demo on embedded defaults: Kafka, the intake, the real sample events through both paths,
# every dataset built, then the Dagster UI (webserver + daemon) until Ctrl-C.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
: "${SDP_HOME:=$repo/.sdp}" "${DAGSTER_HOME:=$SDP_HOME/dagster}" "${PORT:=3000}"
: "${SDP_INTAKE_PORT:=8192}" "${SDP_KAFKA_PORT:=9092}"
export SDP_HOME DAGSTER_HOME SDP_KAFKA_PORT
sample=sdp_assets/mediawiki/fixtures/recentchange_sample_500.jsonl
intake_url="http://127.0.0.1:$SDP_INTAKE_PORT/v1/events"
token=demo-token  # deploy/intake.local.yaml
log="$SDP_HOME/demo.log"
mkdir -p "$SDP_HOME"
: > "$log"

intake_pid=""
daemon_pid=""
cleanup() {
  for pid in "$daemon_pid" "$intake_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  bash deploy/kafka.sh stop || true
}
trap cleanup EXIT

bash deploy/kafka.sh start
uv run sdp intake --port "$SDP_INTAKE_PORT" --tokens deploy/intake.local.yaml >> "$log" 2>&1 &
intake_pid=$!
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$SDP_INTAKE_PORT/healthz" > /dev/null && break
  kill -0 "$intake_pid" 2>/dev/null || { tail -n 30 "$log"; echo "the intake did not start" >&2; exit 1; }
  sleep 0.5
done

echo "== posting the real sample events to the intake ($intake_url)"
uv run sdp replay "$sample" --url "$intake_url" --token "$token"
echo "== landing them from Kafka into the lake and building every dataset they touch"
uv run sdp land mediawiki.recentchange >> "$log" 2>&1 || { tail -n 40 "$log"; exit 1; }
uv run sdp datasets

# Once the UI is up, replay the sample as live events (fresh ids, event time now): the stream
# sensor lands them and declarative automation updates the current hour and day downstream.
(
  for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$PORT/server_info" > /dev/null && break
    sleep 1
  done
  sleep 5
  uv run sdp replay "$sample" --url "$intake_url" --token "$token" --now >> "$log" 2>&1
) &

# The daemon runs sensors, automation, freshness and queued runs; the webserver is the UI.
set -a; source .env; set +a
uv run dagster-daemon run -w workspace.yaml >> "$log" 2>&1 &
daemon_pid=$!
echo "Dagster UI: http://127.0.0.1:$PORT  (Ctrl-C stops the UI, the daemon, the intake and Kafka)"
uv run dagster-webserver -h 127.0.0.1 -p "$PORT" -w workspace.yaml
