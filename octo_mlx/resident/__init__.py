"""One base model in memory, many adapters switched per request (:class:`AdapterPool`)."""

from octo_mlx.resident.pool import AdapterPool, ResidentAdapter

__all__ = ["AdapterPool", "ResidentAdapter"]
