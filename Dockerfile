# driftline stream job image. Build from the repo root: docker build -t driftline .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (keeps .venv, .git and caches out of the image).
# README.m[d] is a glob so the build also works before a README exists.
COPY pyproject.toml README.m[d] ./
COPY flows ./flows
COPY connectors ./connectors
COPY evaluation ./evaluation
RUN pip install . \
    && useradd --create-home --uid 10001 driftline \
    && mkdir -p /var/lib/driftline \
    && chown driftline /var/lib/driftline

USER driftline
WORKDIR /var/lib/driftline

# Prometheus metrics (DRIFTLINE_METRICS__PORT).
EXPOSE 9108

CMD ["driftline", "run"]
