"""A graceful stop of the worker (SIGTERM or Ctrl-C: Celery's warm shutdown, `docker-compose restart`).

Celery's warm shutdown would let the running job train to its end, past any container's grace period, and
then the SIGKILL would cost the job an attempt. Instead the job stops at its next step (as for a cancel,
training_jobs/context.py) and the runner hands it back to the queue without counting the attempt
(training_jobs/runner.py), for the next worker to run from the start.
"""

from __future__ import annotations

import threading

_stopping = threading.Event()


def request() -> None:
    """Called from Celery's signal handler (celery.signals.worker_shutting_down): only sets a flag."""
    _stopping.set()


def requested() -> bool:
    return _stopping.is_set()
