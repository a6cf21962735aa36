"""Clients of the platform's HTTP APIs."""

from services.client.collector import CollectorClient
from services.client.errors import CollectorError, RewardServiceError
from services.client.rewards import PlatformReward

__all__ = ["CollectorClient", "CollectorError", "PlatformReward", "RewardServiceError"]
