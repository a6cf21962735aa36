"""Where the repository and its test data are."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Real third-party data the tests and benchmarks use, with its licences and provenance (SOURCES.md there).
DATA_DIR = REPO_ROOT / "tests" / "data"
