"""Path and query parameters shared by the collector's routes."""

from typing import Annotated

from fastapi import Path
from pydantic import Field

from services.core.inputs import MAX_ID

ID_DESCRIPTION = "numeric id"
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description=ID_DESCRIPTION)]
# The same in a plain route's path model (services/collector/plain_routes.py).
Id = Annotated[int, Field(ge=1, le=MAX_ID, description=ID_DESCRIPTION)]
