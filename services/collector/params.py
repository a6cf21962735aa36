"""Path and query parameters shared by the collector's routes."""

from typing import Annotated

from fastapi import Path

# Ids are PostgreSQL bigints: a larger number is refused here rather than reaching the driver.
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="numeric id")]
