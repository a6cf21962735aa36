"""Request and response models at the collector's HTTP boundary, kept apart from the ORM models.

Ladder per resource: `XCreate` (input), `XPublic` (one), `XsPublic{data, count}` (many).
"""

from __future__ import annotations
