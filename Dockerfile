# One image for every process of the platform (collector, worker, inference, migrate).
# torch==2.13.0 from PyPI is the CUDA build on x86_64 Linux, so the worker and inference use a GPU when
# the container is given one, and the CPU otherwise.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRL_EXPERIMENTAL_SILENCE=1

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY services ./services
COPY training_jobs ./training_jobs
COPY annotation_ui ./annotation_ui
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home rlhf && mkdir -p /artifacts /state && chown rlhf /artifacts /state
USER rlhf
EXPOSE 8000 8001
CMD ["rlhf", "--help"]
