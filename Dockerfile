# syntax=docker/dockerfile:1
#
# Tenantry's production image: gunicorn (via `tenantry serve`) on 0.0.0.0:8000, as a non-root user.
#
#   docker build -t tenantry .
#   docker run --rm -e TENANTRY_DATABASE_URL=postgresql://… tenantry tenantry db upgrade
#   docker run -d -p 8000:8000 -e TENANTRY_DATABASE_URL=postgresql://… -e TENANTRY_SECRET_KEY=… \
#       -e TENANTRY_AUDIT_SIGNING_KEY=… -e TENANTRY_SMTP_URL=smtp+starttls://… \
#       [-e TENANTRY_BUS_URL=nats://…] [-e WEB_CONCURRENCY=4] tenantry
# (TENANTRY_ENV=production: serving refuses to start without the secret, signing key and SMTP URL.)
#
# The image holds the installed wheel, not the source tree: the same wheel that CI installs in a fresh
# virtualenv and runs outside the checkout (tests/packaging/test_wheel.py).
#
# Not built in this project's CI: its machines have the docker client but no engine to build with. It is
# written to be correct by reading; build it where an engine runs before relying on it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the wheel, built from the source, installed with its dependencies into a virtualenv --------------
FROM ${PYTHON_IMAGE} AS builder

# python3-saml needs xmlsec; PyPI has wheels for common platforms, and these let pip build it where it has none.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config libxml2-dev libxmlsec1-dev libxmlsec1-openssl \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt

# The code, as a wheel: setup.py ships the top-level policies/ inside it (app/policies), so the installed
# package needs nothing from this source tree, which stays behind in this stage.
COPY README.md setup.py ./
COPY app ./app
COPY policies ./policies
RUN pip wheel --no-deps --wheel-dir /tmp/dist . \
    && pip install --no-deps /tmp/dist/tenantry-*.whl \
    && pip check

# --- runtime: the virtualenv alone (no source tree, no compilers) ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends libxmlsec1-openssl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tenantry \
    && useradd --system --uid 10001 --gid tenantry --home-dir /srv/tenantry --shell /usr/sbin/nologin tenantry

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TENANTRY_ENV=production \
    TENANTRY_INSTANCE_PATH=/srv/tenantry/instance

WORKDIR /srv/tenantry
# The only writable place: a SQLite database when no TENANTRY_DATABASE_URL is given (mount a volume there).
RUN mkdir -p /srv/tenantry/instance && chown tenantry:tenantry /srv/tenantry/instance
USER tenantry

EXPOSE 8000

# python rather than curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# gunicorn with the app preloaded; workers: WEB_CONCURRENCY, else one per core the container sees.
CMD ["tenantry", "serve", "--host", "0.0.0.0", "--port", "8000"]
