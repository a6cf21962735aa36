"""The job queue: sending a job to the workers, whether its message is waiting, and the watchdog that mends
lost workers and lost messages. Light imports only (Celery, kombu, SQLAlchemy): the collector uses it; what
runs on a worker lives in training_jobs."""
