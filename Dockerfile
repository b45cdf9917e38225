# One image for the web (gunicorn) and the worker (`consent worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CONSENT_DATA_DIR=/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 consent \
 && mkdir /data && chown consent /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY sync ./sync
COPY webhooks ./webhooks
RUN pip install --no-cache-dir .

USER consent
EXPOSE 8000
# The web by default; run the worker with `consent worker` and migrations with `consent db upgrade`.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", \
     "--worker-class", "gthread", "--access-logfile", "-", "service.wsgi:app"]
