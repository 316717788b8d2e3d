# The Mkb-route assistant: build a wheel (content baked in), run it as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY bot ./bot
COPY flows ./flows
COPY knowledge ./knowledge
RUN pip install --no-cache-dir build==1.2.2 && python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MKBROUTE_DATA_DIR=/data
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/*.whl \
    && rm -rf /dist \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mkbroute \
    && mkdir -p /data \
    && chown mkbroute /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
# The content must load and the database must be reachable; no network call to Telegram.
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
    CMD ["mkbroute", "db", "current"]
CMD ["mkbroute", "run"]
