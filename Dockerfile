# The inbox: web app, webhooks, API and (unless INBOX_RUN_WORKER=0) the delivery worker.
# Used by docker-compose.yml; see docs/deploy.md. `make container-check` builds and runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    INBOX_DATABASE_URL=sqlite:////data/inbox.db INBOX_MEDIA_DIR=/data/media

WORKDIR /src
# Dependencies first, so a code change does not reinstall them; tzdata because the slim image
# has no time zone files and psycopg warns without them.
COPY pyproject.toml README.md ./
RUN mkdir -p inbox ui webhooks && touch inbox/__init__.py ui/__init__.py webhooks/__init__.py \
    && pip install . tzdata && pip uninstall -y inbox && rm -rf /src/*
# Then the package itself, installed as a user's `pip install` would (migrations, templates and
# static files ship inside it), and the source removed.
COPY pyproject.toml README.md ./
COPY inbox inbox
COPY ui ui
COPY webhooks webhooks
RUN pip install --no-deps . && cd / && rm -rf /src \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin inbox \
    && mkdir -p /data/media && chown -R inbox /data && chmod 700 /data

# From /, the defaults land in the volume: ./data/secret_key is /data/secret_key, so a plain
# `docker run -v inbox:/data` keeps its generated key (compose sets INBOX_SECRET_KEY instead).
WORKDIR /
USER inbox
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["inbox", "serve", "--host", "0.0.0.0", "--port", "8000"]
