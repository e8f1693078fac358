# The inbox: web app, webhooks, API and (unless INBOX_RUN_WORKER=0) the delivery worker.
# Used by docker-compose.yml; see docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    INBOX_DATABASE_URL=sqlite:////data/inbox.db INBOX_MEDIA_DIR=/data/media

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p inbox ui webhooks && touch inbox/__init__.py ui/__init__.py webhooks/__init__.py \
    && pip install . && pip uninstall -y inbox
COPY . .
# Editable: the migrations/ folder beside the package is found at run time.
RUN pip install --no-deps -e . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin inbox \
    && mkdir -p /data/media && chown -R inbox /data

USER inbox
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# The secret key must come from the environment: there is no writable ./data/secret_key here.
CMD ["inbox", "serve", "--host", "0.0.0.0", "--port", "8000"]
