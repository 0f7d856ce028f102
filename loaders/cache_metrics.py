"""What the cache and loaders record (observability.metrics.TaskqlMetrics provides it)."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Histogram


class CacheMetrics(Protocol):
    @property
    def cache_requests(self) -> Counter: ...
    @property
    def invalidations_delayed(self) -> Counter: ...
    @property
    def cache_invalidations_unreplicated(self) -> Counter: ...
    @property
    def dataloader_batch_size(self) -> Histogram: ...
