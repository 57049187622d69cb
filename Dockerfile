# liveroom: a slim, non-root image running `liveroom serve`, configured by LIVEROOM_* variables.
#   docker build -t liveroom .
#   docker run -p 8000:8000 -e LIVEROOM_SECRET=... -e LIVEROOM_API_KEY=... liveroom
# Several nodes behind nginx with Redis: deploy/compose.yaml and docs/deploy.md.
# tests/deploy/test_manifests.py checks this file against the package.

ARG PYTHON_VERSION=3.11

# ---- build: install the package and its dependencies into a virtualenv
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# a C compiler for liveroom._sendall, the fan-out's send loop (the runtime image has none)
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/liveroom
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
# liveroom/web/client links to the JS client package, so its target comes first
COPY clients/js/src ./clients/js/src
COPY liveroom ./liveroom
RUN /opt/liveroom/bin/pip install . \
    && /opt/liveroom/bin/python -P -c "import liveroom._sendall"

# ---- runtime: the virtualenv (the demo pages are package data), an unprivileged user
FROM python:${PYTHON_VERSION}-slim AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin liveroom
COPY --from=build /opt/liveroom /opt/liveroom
ENV PATH=/opt/liveroom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVEROOM_HOST=0.0.0.0 \
    LIVEROOM_PORT=8000 \
    LIVEROOM_DEMO=0 \
    LIVEROOM_LOG_JSON=1
USER 10001:10001
EXPOSE 8000
# liveness only: readiness (/readyz, engine reachable) is the load balancer's business
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LIVEROOM_PORT', '8000'), timeout=2)"]
# SIGTERM: stop accepting, tell viewers to reconnect elsewhere (1012), drain for LIVEROOM_DRAIN_S
STOPSIGNAL SIGTERM
ENTRYPOINT ["liveroom"]
CMD ["serve"]
