# One image for the web (gunicorn), the worker (`consent worker`), migrations and backups.
# An exact Python release on Debian bookworm, whose postgresql-client (15) gives `consent
# backup` and `consent restore` their pg_dump and pg_restore: the database must be 15 or older.
FROM python:3.11.16-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONSENT_DATA_DIR=/data \
    PROMETHEUS_MULTIPROC_DIR=/tmp/consent-metrics
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 consent \
 && mkdir /data /backups /tmp/consent-metrics \
 && chown consent /data /backups /tmp/consent-metrics \
 && chmod 0700 /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY mirrors ./mirrors
COPY webhooks ./webhooks
RUN pip install --no-cache-dir .

USER consent
EXPOSE 8000
# Liveness of the web; compose.yaml checks /readyz too, and the worker its own way.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# The web by default; run the worker with `consent worker` and migrations with `consent db upgrade`.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", \
     "--worker-class", "gthread", "--access-logfile", "-", "service.wsgi:app"]
