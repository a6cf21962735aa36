"""Clients of the platform's HTTP APIs."""

from services.client.collector import CollectorClient
from services.client.errors import CollectorError

__all__ = ["CollectorClient", "CollectorError"]
