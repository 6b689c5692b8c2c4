"""``runtime_alloc.prometheus``: the Prometheus collector, kept importable here.

The collector lives in :mod:`runtime_alloc.integrations.prometheus` (see its
docstring for the metrics); this module re-exports it, so
``from runtime_alloc.prometheus import AllocatorCollector`` keeps working.
"""

from runtime_alloc.integrations.prometheus import AllocatorCollector

__all__ = ["AllocatorCollector"]
