#!/usr/bin/env bash
# Jars the Spark engine (sdp/spark.py) adds to PySpark: the Iceberg runtime and the catalog's
# JDBC drivers, fetched once from Maven Central into a cache folder. Prints that folder.
#
# Usage: deploy/spark-jars.sh
#
# Environment (all optional):
#   SDP_CACHE     jar cache root                                   default ~/.cache/sdp
#   SDP_MVN_ARGS  extra arguments for mvn (e.g. -Dmaven.repo.local=...)
#
# Why Maven and not spark.jars.packages: Ivy does not use Maven's settings (mirrors, proxies),
# so it is not dependable here; plain jars passed with spark.jars are.
set -euo pipefail

# Iceberg 1.12.0: the newest runtime built for Spark 4.1 / Scala 2.13 (pyspark is pinned to 4.1.x;
# no Iceberg runtime exists for Spark 4.2+). The runtime jar is self-contained (no dependencies).
ICEBERG_VERSION="1.12.0"
SPARK_BINARY="4.1"
SCALA_VERSION="2.13"
# JDBC drivers of the SQL catalog: SQLite locally, PostgreSQL in production. Their own dependencies
# (slf4j-api, checker-qual) are left out: Spark ships slf4j, and a second copy would clash.
SQLITE_JDBC_VERSION="3.54.1.0"
POSTGRESQL_VERSION="42.7.14"
DEP_PLUGIN_VERSION="3.8.1"

CACHE_DIR="${SDP_CACHE:-$HOME/.cache/sdp}/spark-jars-$ICEBERG_VERSION"

log() { echo "spark-jars.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# iceberg-aws-bundle is S3FileIO with its AWS SDK shaded in: only loaded for an s3:// warehouse.
write_pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sdp.local</groupId>
  <artifactId>spark-iceberg-jars</artifactId>
  <version>$ICEBERG_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.iceberg</groupId>
      <artifactId>iceberg-spark-runtime-${SPARK_BINARY}_$SCALA_VERSION</artifactId>
      <version>$ICEBERG_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.iceberg</groupId>
      <artifactId>iceberg-aws-bundle</artifactId>
      <version>$ICEBERG_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.xerial</groupId>
      <artifactId>sqlite-jdbc</artifactId>
      <version>$SQLITE_JDBC_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.postgresql</groupId>
      <artifactId>postgresql</artifactId>
      <version>$POSTGRESQL_VERSION</version>
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

# The stamp is the pom the folder was built from: same pom => the cached jars are complete.
cached() {
  [[ -f "$CACHE_DIR/.fetched-pom.xml" ]] && write_pom | cmp -s - "$CACHE_DIR/.fetched-pom.xml"
}

fetch() {
  cached && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Spark jars)"
  mkdir -p "$(dirname "$CACHE_DIR")"
  # Build next to the cache and swap in at the end: an interrupted fetch never looks complete.
  local work
  work="$(mktemp -d "$CACHE_DIR.fetch.XXXXXX")"
  write_pom >"$work/pom.xml"
  log "fetching Iceberg $ICEBERG_VERSION for Spark $SPARK_BINARY and JDBC drivers from Maven Central ..."
  # shellcheck disable=SC2086  # SDP_MVN_ARGS is a list of words on purpose
  if ! mvn -q -B -Dstyle.color=never -f "$work/pom.xml" ${SDP_MVN_ARGS:-} dependency:copy-dependencies \
      -DincludeScope=runtime -DexcludeTransitive=true -DoutputDirectory="$work/jars" >&2; then
    rm -rf "$work"
    die "mvn dependency:copy-dependencies failed"
  fi
  local runtime="iceberg-spark-runtime-${SPARK_BINARY}_$SCALA_VERSION-$ICEBERG_VERSION.jar"
  [[ -f "$work/jars/$runtime" ]] || { rm -rf "$work"; die "fetch finished but $runtime is missing"; }
  cp "$work/pom.xml" "$work/jars/.fetched-pom.xml"
  # Another fetch may have finished meanwhile: keep its folder (a JVM may use it already).
  cached || rm -rf "$CACHE_DIR"
  mv -T "$work/jars" "$CACHE_DIR" 2>/dev/null || log "another fetch finished first; using it"
  rm -rf "$work"
  log "cached $(find "$CACHE_DIR" -name '*.jar' | wc -l) jars in $CACHE_DIR"
}

fetch
echo "$CACHE_DIR"
