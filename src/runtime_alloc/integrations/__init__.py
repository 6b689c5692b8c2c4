"""Bridges from an :class:`~runtime_alloc.Allocator` to other systems, each behind an extra.

* :mod:`~runtime_alloc.integrations.prometheus`: a ``prometheus_client`` collector
  (extra ``prometheus``; also importable as ``runtime_alloc.prometheus``).
"""
