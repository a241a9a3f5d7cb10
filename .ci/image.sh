#!/usr/bin/env bash
# Build and smoke-test the image with podman on a machine like this workplace's: no Docker daemon, no Docker Hub
# (so no python:3.11-slim-bookworm), crun unusable. Not part of `make test`; users build with `make image`.
#
#   bash .ci/image.sh build   # base image from Debian packages (mmdebstrap), then the Dockerfile FROM it
#   bash .ci/image.sh smoke   # run the image: check --deploy, speech models, web role + /healthz, a worker's ping
#
# What this works around (docs/DEPLOY.md, "Verified on"):
# - crun cannot set RLIMIT_NOFILE/NPROC here and does not support the hybrid cgroups: runc + a containers.conf;
# - netavark's bridge network does not start here: builds and runs use the host's network;
# - outbound HTTPS goes through a TLS-inspecting proxy whose CA the host trusts
#   (/usr/local/share/ca-certificates): the base image trusts the same CAs and pip is pointed at the system bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${WORK:-/tmp/robot-image}
BASE_IMAGE=${BASE_IMAGE:-localhost/bookworm-python:3.11}
IMAGE=${IMAGE:-localhost/campaign-robot:dev}
mkdir -p "$WORK"
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
podman() { command podman --runtime runc "$@"; }

need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

base() {
  podman image exists "$BASE_IMAGE" && return 0
  need mmdebstrap
  local hook=':' pip_cert=()
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    hook='mkdir -p "$1/usr/local/share/ca-certificates" && cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates'
    pip_cert=(--change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt')
  fi
  # Debian bookworm's python3 is 3.11, like python:3.11-slim-bookworm's; python3-venv brings ensurepip.
  mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    --customize-hook="$hook" bookworm "$WORK/base.tar"
  podman import --change 'ENV LANG=C.UTF-8' "${pip_cert[@]}" --change 'CMD ["/bin/bash"]' \
    "$WORK/base.tar" "$BASE_IMAGE"
  rm -f "$WORK/base.tar"
}

build() {
  need podman runc
  base
  podman build --format docker --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" .
  podman image ls "$IMAGE"
}

# The image against the host's PostgreSQL and Redis on 127.0.0.1 (host network), as compose would run it.
SMOKE_DB=${SMOKE_DB:-robocall_image_smoke}
SMOKE_PORT=${SMOKE_PORT:-18000}
SMOKE_FLOWER_PORT=${SMOKE_FLOWER_PORT:-15555}
SMOKE_ROLES=(web ops dial post_call beat flower)

stop_smoke() {
  for role in "${SMOKE_ROLES[@]}"; do podman rm -f -t 10 "robot-smoke-$role" >/dev/null 2>&1 || true; done
  podman volume rm -f robot-smoke-media robot-smoke-tts >/dev/null 2>&1 || true
}

smoke() {
  local env="$WORK/smoke.env" tls_env="$WORK/smoke-tls.env" run role
  dropdb -h 127.0.0.1 -U postgres --if-exists "$SMOKE_DB" && createdb -h 127.0.0.1 -U postgres "$SMOKE_DB"
  # compose.yaml's settings: TLS, HSTS and the HTTP->HTTPS redirect are the proxy's (Caddy) job.
  cat > "$env" <<ENV
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
DEBUG=false
ALLOWED_HOSTS=robot.example.com,web
CSRF_TRUSTED_ORIGINS=https://robot.example.com
BEHIND_TLS_PROXY=true
SECURE_SSL_REDIRECT=false
SECURE_HSTS_SECONDS=0
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$SMOKE_DB
REDIS_URL=redis://127.0.0.1:6379/5
METRICS_TOKEN=smoke-metrics-token
TELEPHONY_PROVIDER=simulated
PORT=$SMOKE_PORT
FLOWER_PORT=$SMOKE_FLOWER_PORT
FLOWER_URL_PREFIX=flower
FLOWER_BASIC_AUTH=admin:smoke-password
DIAL_CONCURRENCY=2
POST_CALL_CONCURRENCY=1
OPS_CONCURRENCY=1
ENV
  # Django itself redirecting and sending HSTS (no proxy doing it).
  { grep -vE '^(SECURE_SSL_REDIRECT|SECURE_HSTS_SECONDS)=' "$env"; printf 'SECURE_SSL_REDIRECT=true\nSECURE_HSTS_SECONDS=31536000\n'; } > "$tls_env"
  run=(podman run --rm --network host --env-file "$env" "$IMAGE")

  echo "== manage check --deploy (compose settings: the proxy redirects and sends HSTS)"
  "${run[@]}" manage check --deploy
  echo "== manage check --deploy (Django redirects and sends HSTS)"
  podman run --rm --network host --env-file "$tls_env" "$IMAGE" manage check --deploy
  echo "== migrate"
  "${run[@]}" migrate

  trap stop_smoke EXIT
  stop_smoke
  for role in "${SMOKE_ROLES[@]}"; do
    podman run -d --name "robot-smoke-$role" --network host --env-file "$env" \
      -v robot-smoke-media:/var/lib/robot/media -v robot-smoke-tts:/var/lib/robot/tts-cache "$IMAGE" "$role" >/dev/null
  done
  for _ in $(seq 60); do
    curl -sf -o /dev/null -H 'Host: robot.example.com' "http://127.0.0.1:$SMOKE_PORT/healthz" && break
    sleep 1
  done
  echo "== GET /healthz"
  curl -sS -H 'Host: robot.example.com' "http://127.0.0.1:$SMOKE_PORT/healthz"; echo
  echo "== GET /metrics (bearer token): robocall_* samples"
  curl -sS -H 'Host: web' -H 'Authorization: Bearer smoke-metrics-token' "http://127.0.0.1:$SMOKE_PORT/metrics" |
    grep -c '^robocall_'
  sleep 10  # workers connect to the broker
  echo "== HEALTHCHECK of every role"
  for role in "${SMOKE_ROLES[@]}"; do podman exec "robot-smoke-$role" python /app/deploy/healthcheck.py; done
  echo "== a dry-run campaign to virtual callees through the dial/post_call/ops/beat containers"
  podman run --rm -i --network host --env-file "$env" "$IMAGE" manage shell < .ci/image-campaign.py
}

"${1:-build}"
