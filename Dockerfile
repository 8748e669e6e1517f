# Credit Factory image: web (gunicorn), job worker (dramatiq), scheduler and migrations, one image.
#   docker build -t creditfactory:0.1.0 .
# Stage 1 builds wheels for the project and every dependency; stage 2 installs them with no compiler,
# no pip cache and no build tools, and runs as an unprivileged user on a read-only root filesystem.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY platform ./platform
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CREDITFACTORY_TENANTS_DIR=/app/tenants \
    CREDITFACTORY_MIGRATIONS_DIR=/app/migrations \
    CREDITFACTORY_DATA_DIR=/var/lib/creditfactory \
    CREDITFACTORY_LOG_JSON=true
# The CJK font embedded in rendered contracts (docs/contracts.md).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 creditfactory \
 && useradd --system --uid 10001 --gid creditfactory --home-dir /app --shell /usr/sbin/nologin creditfactory
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels creditfactory && rm -rf /wheels
WORKDIR /app
COPY migrations ./migrations
COPY tenants ./tenants
RUN mkdir -p /var/lib/creditfactory && chown creditfactory:creditfactory /var/lib/creditfactory
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "-c", "python:creditfactory.gunicorn_conf", "creditfactory.wsgi:app"]
