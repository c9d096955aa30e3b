"""The Spark resource: where Spark runs (local[*] in tests, a cluster master in production).

One SparkEngine (and session) per process, over the same lake as the lakehouse resource; the
session only starts when a dataset actually runs on Spark.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from sdp.lake import LakeConfig


class SparkResource(ConfigurableResource):
    master: str = "local[*]"
    jars_dir: str | None = None  # default: fetched by deploy/spark-jars.sh into the cache

    _engines: dict = PrivateAttr(default_factory=dict)

    def engine(self, lake_config: LakeConfig):
        from sdp.spark import SparkEngine  # pyspark loads only when Spark is used

        key = (lake_config.catalog_uri, lake_config.warehouse, lake_config.catalog_name)
        if key not in self._engines:
            self._engines[key] = SparkEngine(lake_config, self.master, self.jars_dir)
        return self._engines[key]
