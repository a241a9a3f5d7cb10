#!/usr/bin/env bash
# Build and smoke-test the image with podman on a machine like this workplace's: no Docker daemon, no Docker Hub
# (so no python:3.11-slim-bookworm), crun unusable. Not part of `make test`; users build with `make image`.
#
#   bash .ci/image.sh build   # base image from Debian packages (mmdebstrap), then the Dockerfile FROM it
#   bash .ci/image.sh smoke   # every role against PostgreSQL (through PgBouncer) and Redis, a campaign, Caddy
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
    # shellcheck disable=SC2016  # $1 is mmdebstrap's root directory, expanded by its hook shell
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

# The image against the host's PostgreSQL (own database, through PgBouncer) and a Redis of its own, on 127.0.0.1
# (host network), as compose would run it.
SMOKE_DB=${SMOKE_DB:-robocall_image_smoke}
SMOKE_PORT=${SMOKE_PORT:-18000}
SMOKE_FLOWER_PORT=${SMOKE_FLOWER_PORT:-15555}
SMOKE_ROLES=(web ops dial post_call beat flower)

# A Redis of the smoke's own (with a password, like compose's): the host's Redis on 6379 is shared with the test
# suites of other worktrees, whose workers would take this smoke's tasks from the same queues, and it theirs.
SMOKE_REDIS_PORT=${SMOKE_REDIS_PORT:-16379}
start_redis() {
  need redis-server
  mkdir -p "$WORK/redis"
  redis-server --bind 127.0.0.1 --port "$SMOKE_REDIS_PORT" --requirepass smoke-redis --save "" --appendonly no \
    --daemonize yes --pidfile "$WORK/redis/redis.pid" --logfile "$WORK/redis/redis.log"
  for _ in $(seq 20); do REDISCLI_AUTH=smoke-redis redis-cli -p "$SMOKE_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.5; done
}
stop_redis() {
  local pidfile="$WORK/redis/redis.pid"
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
}

# PgBouncer in transaction mode in front of the host's PostgreSQL, as compose.yaml puts it in front of its own
# (Debian's pgbouncer; it refuses to run as root, so as the postgres user).
SMOKE_PGBOUNCER_PORT=${SMOKE_PGBOUNCER_PORT:-16432}
start_pgbouncer() {
  need pgbouncer
  local dir="$WORK/pgbouncer"
  mkdir -p "$dir" && chown postgres "$dir"
  printf '"postgres" ""\n' > "$dir/userlist.txt"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
$SMOKE_DB = host=127.0.0.1 port=5432 dbname=$SMOKE_DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $SMOKE_PGBOUNCER_PORT
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  runuser -u postgres -- pgbouncer -d "$dir/pgbouncer.ini"
  for _ in $(seq 20); do pg_isready -q -h 127.0.0.1 -p "$SMOKE_PGBOUNCER_PORT" && break; sleep 0.5; done
}
stop_pgbouncer() {
  local pidfile="$WORK/pgbouncer/pgbouncer.pid"
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
}

# deploy/Caddyfile in front of the web and flower containers (Debian's caddy; compose.yaml uses the caddy image):
# the upstreams become the containers' host ports, and it listens on high ports without touching the host's
# trust store.
SMOKE_HTTP_PORT=${SMOKE_HTTP_PORT:-18080}
SMOKE_HTTPS_PORT=${SMOKE_HTTPS_PORT:-18443}
start_caddy() {
  need caddy
  local dir="$WORK/caddy"
  mkdir -p "$dir"
  { printf '{\n\thttp_port %s\n\thttps_port %s\n\tskip_install_trust\n\tadmin off\n}\n\n' "$SMOKE_HTTP_PORT" "$SMOKE_HTTPS_PORT"
    sed -e "s/web:8000/127.0.0.1:$SMOKE_PORT/; s/flower:5555/127.0.0.1:$SMOKE_FLOWER_PORT/; s/grafana:3000/127.0.0.1:9/" deploy/Caddyfile
  } > "$dir/Caddyfile"
  ROBOT_DOMAIN=robot.example.com CADDY_TLS=internal XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    caddy run --adapter caddyfile --config "$dir/Caddyfile" > "$dir/caddy.log" 2>&1 &
  echo $! > "$dir/caddy.pid"
  for _ in $(seq 40); do
    curl -sk -o /dev/null --resolve "robot.example.com:$SMOKE_HTTPS_PORT:127.0.0.1" \
      "https://robot.example.com:$SMOKE_HTTPS_PORT/healthz" && break
    sleep 0.5
  done
}
stop_caddy() {
  local pidfile="$WORK/caddy/caddy.pid"
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
}

proxy_checks() {
  local host=robot.example.com url="https://robot.example.com:$SMOKE_HTTPS_PORT"
  local curl=(curl -sk --resolve "$host:$SMOKE_HTTPS_PORT:127.0.0.1" --resolve "$host:$SMOKE_HTTP_PORT:127.0.0.1")
  echo "== Caddy: TLS versions offered to a client (1.0 and 1.1 must be refused)"
  local out
  for v in tls1 tls1_1 tls1_2 tls1_3; do
    out=$(openssl s_client -connect "127.0.0.1:$SMOKE_HTTPS_PORT" -servername "$host" "-$v" -cipher 'DEFAULT:@SECLEVEL=0' \
      </dev/null 2>&1) && echo "$v: accepted ($(grep -m1 -oE 'Protocol *: *TLSv[0-9.]+' <<<"$out"))" ||
      echo "$v: refused ($(grep -m1 -oE 'alert protocol version|alert handshake failure|no protocols available|unsupported protocol' <<<"$out"))"
  done
  echo "== Caddy: GET /healthz over HTTPS (status, HSTS)"
  "${curl[@]}" -D - -o /dev/null "$url/healthz" | grep -iE '^(HTTP|strict-transport-security)'
  echo "== Caddy: plain HTTP is redirected"
  "${curl[@]}" -o /dev/null -w '%{http_code} -> %{redirect_url}\n' "http://$host:$SMOKE_HTTP_PORT/healthz"
  echo "== Caddy: /metrics is not served to the outside"
  "${curl[@]}" -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer smoke-metrics-token' "$url/metrics"
  echo "== Caddy: /flower/ without and with its basic auth; the admin login page"
  "${curl[@]}" -o /dev/null -w '%{http_code}\n' "$url/flower/"
  "${curl[@]}" -o /dev/null -w '%{http_code}\n' -u admin:smoke-password "$url/flower/"
  "${curl[@]}" -o /dev/null -w '%{http_code}\n' "$url/admin/login/"
}

stop_smoke() {
  stop_caddy
  for role in "${SMOKE_ROLES[@]}"; do podman rm -f -t 10 "robot-smoke-$role" >/dev/null 2>&1 || true; done
  stop_pgbouncer
  stop_redis
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
DATABASE_URL=postgres://postgres@127.0.0.1:$SMOKE_PGBOUNCER_PORT/$SMOKE_DB?disable_server_side_cursors=True
MIGRATE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$SMOKE_DB
REDIS_URL=redis://:smoke-redis@127.0.0.1:$SMOKE_REDIS_PORT/0
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
  trap stop_smoke EXIT
  stop_smoke
  start_pgbouncer
  start_redis

  echo "== manage check --deploy (compose settings: the proxy redirects and sends HSTS)"
  "${run[@]}" manage check --deploy
  echo "== manage check --deploy (Django redirects and sends HSTS)"
  podman run --rm --network host --env-file "$tls_env" "$IMAGE" manage check --deploy
  echo "== migrate"
  "${run[@]}" migrate

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
  echo "== a static file (collected into the image, served by whitenoise)"
  curl -sS -o /dev/null -w '%{http_code} %{content_type}\n' -H 'Host: robot.example.com' \
    "http://127.0.0.1:$SMOKE_PORT/static/admin/css/base.css"
  echo "== GET /metrics (bearer token): robocall_* samples"
  curl -sS -H 'Host: web' -H 'Authorization: Bearer smoke-metrics-token' "http://127.0.0.1:$SMOKE_PORT/metrics" |
    grep -c '^robocall_'
  sleep 10  # workers connect to the broker
  echo "== HEALTHCHECK of every role"
  for role in "${SMOKE_ROLES[@]}"; do podman exec "robot-smoke-$role" python /app/deploy/healthcheck.py; done
  echo "== HEALTHCHECK fails when it should (exit 1): a node that does not answer, a stale beat, a refused Host"
  podman exec robot-smoke-ops sh -c 'printf "ops\nnobody@nowhere\n" > /tmp/r && ROBOT_HEALTH_FILE=/tmp/r python /app/deploy/healthcheck.py' && exit 1
  podman exec robot-smoke-beat sh -c 'touch -d "10 minutes ago" /tmp/celerybeat-schedule* && python /app/deploy/healthcheck.py' && exit 1
  podman exec -e ALLOWED_HOSTS=elsewhere.example.com robot-smoke-web python /app/deploy/healthcheck.py | head -1 && exit 1
  echo "== Flower lists the workers"
  curl -sS -u admin:smoke-password "http://127.0.0.1:$SMOKE_FLOWER_PORT/flower/api/workers?refresh=1" |
    python3 -c 'import json, sys; print(sorted(json.load(sys.stdin)))'
  echo "== a dry-run campaign to virtual callees through the dial/post_call/ops/beat containers"
  podman run --rm -i --network host --env-file "$env" "$IMAGE" manage shell < .ci/image-campaign.py
  echo "== PgBouncer pools (the robot's connections went through it, in transaction mode)"
  psql -h 127.0.0.1 -p "$SMOKE_PGBOUNCER_PORT" -U postgres pgbouncer -At -c 'SHOW CONFIG' | grep '^pool_mode|'
  psql -h 127.0.0.1 -p "$SMOKE_PGBOUNCER_PORT" -U postgres pgbouncer -x -c 'SHOW STATS' |
    grep -E "^(database|total_xact_count|total_query_count) " | grep -A2 "$SMOKE_DB"
  start_caddy
  proxy_checks
}

"${1:-build}"
