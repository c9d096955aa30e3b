#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on 127.0.0.1,
# run straight from Kafka's Maven Central jars: no Docker and no release tarball needed.
#
# Usage: deploy/kafka.sh {fetch|start|stop|status|restart|reset}
#
# Environment (all optional):
#   SDP_KAFKA_PORT             client (PLAINTEXT) port            default 9092
#   SDP_KAFKA_CONTROLLER_PORT  KRaft controller port              default 9093
#   SDP_KAFKA_DIR              state dir (config, data, logs, pid) default <repo>/.sdp/kafka
#   SDP_CACHE                  jar cache root                      default ~/.cache/sdp
#   SDP_KAFKA_START_TIMEOUT    seconds to wait for readiness       default 90
#   SDP_KAFKA_STOP_TIMEOUT     seconds before SIGTERM becomes KILL default 30
#   SDP_MVN_ARGS               extra arguments for mvn (e.g. -Dmaven.repo.local=...)
#   KAFKA_HEAP_OPTS / KAFKA_JVM_PERFORMANCE_OPTS / KAFKA_OPTS   JVM options, as in Kafka's scripts
set -euo pipefail

# 4.1.1: current 4.x bugfix release that resolves from Maven Central and runs on Java 17 (4.x needs 17+).
KAFKA_VERSION="4.1.1"
SCALA_VERSION="2.13"
# Same log4j2 line Kafka 4.1 ships with; the pom pulls slf4j-api 1.7.x, so the binding is log4j-slf4j-impl.
LOG4J_VERSION="2.24.3"
DEP_PLUGIN_VERSION="3.8.1"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

PORT="${SDP_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${SDP_KAFKA_CONTROLLER_PORT:-9093}"
HOST="127.0.0.1"
CACHE_DIR="${SDP_CACHE:-$HOME/.cache/sdp}/kafka-$KAFKA_VERSION"
LIBS_DIR="$CACHE_DIR/libs"
STATE_DIR="${SDP_KAFKA_DIR:-$REPO_ROOT/.sdp/kafka}"
DATA_DIR="$STATE_DIR/data"
LOG_DIR="$STATE_DIR/logs"
PID_FILE="$STATE_DIR/kafka.pid"
SERVER_LOG="$LOG_DIR/server.log"
# JVM stdout/stderr: catches crashes that happen before log4j is up.
OUT_FILE="$LOG_DIR/kafka.out"
START_TIMEOUT="${SDP_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${SDP_KAFKA_STOP_TIMEOUT:-30}"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Modest heap: a dev broker on a 2-core box, not production.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
KAFKA_OPTS="${KAFKA_OPTS:-}"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# Millisecond wall clock: $SECONDS is whole seconds, too coarse to report a 3 s start.
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---------------------------------------------------------------- fetch

# The broker's runtime classpath is kafka_2.13's transitive closure; its pom has no logging
# backend, so without the log4j2 artifacts the broker would run silently.
write_pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sdp.local</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>$DEP_PLUGIN_VERSION</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
}

cmd_fetch() {
  # The stamp holds the pom it was built from: same pom => cached classpath is complete and current.
  local stamp="$LIBS_DIR/.fetched-pom.xml"
  if [[ -f "$stamp" ]] && write_pom | cmp -s - "$stamp"; then
    log "classpath cached: $LIBS_DIR"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka's jars from Maven Central)"
  mkdir -p "$CACHE_DIR"
  # Build in a temp dir and swap in at the end, so an interrupted fetch never looks complete.
  local work
  work="$(mktemp -d "$CACHE_DIR/.fetch.XXXXXX")"
  write_pom >"$work/pom.xml"
  log "fetching Kafka $KAFKA_VERSION classpath from Maven Central ..."
  # stdout -> stderr: keep this script's stdout for status output only.
  # shellcheck disable=SC2086  # SDP_MVN_ARGS is a list of words on purpose
  if ! mvn -q -B -f "$work/pom.xml" ${SDP_MVN_ARGS:-} dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$work/libs" >&2; then
    rm -rf "$work"
    die "mvn dependency:copy-dependencies failed"
  fi
  ls "$work/libs"/kafka_"$SCALA_VERSION"-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
    || { rm -rf "$work"; die "fetch finished but kafka_$SCALA_VERSION-$KAFKA_VERSION.jar is missing"; }
  cp "$work/pom.xml" "$work/libs/.fetched-pom.xml"
  rm -rf "$LIBS_DIR"
  mv "$work/libs" "$LIBS_DIR"
  rm -rf "$work"
  log "cached $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $LIBS_DIR"
}

# ---------------------------------------------------------------- process helpers

# Prints the broker pid if the pid file points at a live kafka.Kafka JVM (guards against pid reuse).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_open() {
  # bash's /dev/tcp: no nc/ss dependency; subshell so the fd closes right away.
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# ---------------------------------------------------------------- config

write_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  # Regenerated on every start so port changes via env take effect; data lives in $DATA_DIR.
  cat >"$STATE_DIR/server.properties" <<EOF
# Generated by deploy/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
# Topics are created explicitly by the platform, never by a typo in a producer.
auto.create.topics.enable=false
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# One partition each for the internal topics: much faster first start on 2 cores.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
# No point waiting for more group members in dev/tests.
group.initial.rebalance.delay.ms=0
EOF

  # Properties format: log4j-core parses it without extra jars (YAML would need jackson-yaml wiring).
  cat >"$STATE_DIR/log4j2.properties" <<'EOF'
# Generated by deploy/kafka.sh. kafka.logs.dir is passed as a system property.
status = warn
name = sdp-kafka

appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 5

rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server

# Same quieting as Kafka's stock config.
logger.zk.name = org.apache.zookeeper
logger.zk.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = INFO
EOF
}

# KRaft needs its storage formatted exactly once; reformatting would wipe the cluster identity.
format_if_needed() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id="$("$JAVA" -cp "$LIBS_DIR/*" kafka.tools.StorageTool random-uuid | tail -n1)"
  log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
  # No --standalone: we use static controller.quorum.voters, and 4.1 rejects mixing the two.
  "$JAVA" -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$LOG_DIR" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE_DIR/server.properties" >&2
}

# ---------------------------------------------------------------- commands

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid, port $PORT)"
    return 0
  fi
  rm -f "$PID_FILE"
  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "port $HOST:$p is already in use by another process"
  done

  cmd_fetch
  write_config
  format_if_needed

  # Remember where this run's log output begins, so a "started" line from a previous run can't fool us.
  local offset=0
  [[ -f "$SERVER_LOG" ]] && offset="$(stat -c %s "$SERVER_LOG")"

  local t0=$SECONDS t0_real
  t0_real="$(now_ms)"
  # shellcheck disable=SC2086  # the *_OPTS variables are word lists, as in Kafka's own scripts
  nohup "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_OPTS \
    -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$STATE_DIR/server.properties" \
    >"$OUT_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started pid $pid, waiting up to ${START_TIMEOUT}s for $HOST:$PORT ..."

  local size
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail_start "broker process exited during startup" "$offset"
    fi
    if port_open "$PORT" && [[ -f "$SERVER_LOG" ]]; then
      size="$(stat -c %s "$SERVER_LOG")"
      (( size < offset )) && offset=0   # log rolled over meanwhile: read it whole
      # Logged once the broker is unfenced and serving. No grep -q: its early exit would
      # SIGPIPE tail and, under pipefail, turn a match into a failure.
      if tail -c "+$((offset + 1))" "$SERVER_LOG" | grep 'Kafka Server started' >/dev/null; then
        break
      fi
    fi
    if (( SECONDS - t0 >= START_TIMEOUT )); then
      fail_start "broker not ready after ${START_TIMEOUT}s" "$offset"
    fi
    sleep 0.5
  done
  log "ready on $HOST:$PORT after $(since "$t0_real")s (pid $pid)"
}

# Shows this run's log output (not an older run's), then makes sure no half-started broker lingers.
fail_start() {
  local msg="$1" offset="$2"
  log "error: $msg"
  local recent=""
  [[ -f "$SERVER_LOG" ]] && recent="$(tail -c "+$((offset + 1))" "$SERVER_LOG" | tail -n 40)"
  if [[ -n "$recent" ]]; then
    log "--- last lines of $SERVER_LOG (this run) ---"
    echo "$recent" >&2
  fi
  if [[ -s "$OUT_FILE" ]]; then
    log "--- last lines of $OUT_FILE ---"
    tail -n 40 "$OUT_FILE" >&2
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
  # SIGTERM runs Kafka's shutdown hook: clean log flush, so the next start skips recovery.
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
    sleep 0.5
  done
  # Don't return before the ports are released, or an immediate start could clash.
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  rm -f "$PID_FILE"
  log "stopped after $(since "$t0_real")s"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "kafka $KAFKA_VERSION running (pid $pid, $HOST:$PORT, controller $HOST:$CONTROLLER_PORT)"
    return 0
  fi
  echo "kafka $KAFKA_VERSION not running (port $PORT)"
  return 1
}

cmd_reset() {
  cmd_stop
  # Only what the broker made; never a path outside the state dir.
  rm -rf "$DATA_DIR" "$LOG_DIR" "$STATE_DIR/server.properties" "$STATE_DIR/log4j2.properties"
  log "reset: removed data and logs under $STATE_DIR"
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
