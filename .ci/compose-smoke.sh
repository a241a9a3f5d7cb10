#!/usr/bin/env bash
# `compose.yaml` brought up for real with podman-compose on a machine that cannot pull its service images (this
# workplace: no Docker daemon, no Docker Hub). The service images are replaced by stand-ins built from Debian
# packages (.ci/compose-standins/, tagged with the names compose.yaml uses, in this machine's podman storage only);
# the robot's own image is the one `.ci/image.sh build` made. Grafana (not in Debian) and node-exporter (needs the
# host's /) are left out. Run after `bash .ci/image.sh build`.
#
#   bash .ci/compose-smoke.sh        # build stand-ins if missing, up, check, down -v
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${WORK:-/tmp/robot-compose}
BASE_IMAGE=${BASE_IMAGE:-localhost/bookworm-python:3.11}
ROBOT_IMAGE=${ROBOT_IMAGE:-localhost/campaign-robot:dev}
PROJECT=robotsmoke
HTTP_PORT=${HTTP_PORT:-18080}
HTTPS_PORT=${HTTPS_PORT:-18443}
mkdir -p "$WORK"
# podman 4.3 here: runc (crun cannot set rlimits here), cgroupfs; the bridge network needs iptables (netavark).
printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
for p in podman runc iptables; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p"; }
done
if [ ! -x "$WORK/venv/bin/podman-compose" ]; then
  python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q podman-compose==1.6.0
fi
compose() { "$WORK/venv/bin/podman-compose" --env-file "$WORK/robot.env" -f "$WORK/compose.yaml" -p "$PROJECT" "$@"; }

declare -A STANDINS=(
  [postgres]=docker.io/library/postgres:17-bookworm
  [pgbouncer]=docker.io/edoburu/pgbouncer:v1.25.2-p0
  [redis]=docker.io/library/redis:7.4-bookworm
  [caddy]=docker.io/library/caddy:2.10
  [prometheus]=docker.io/prom/prometheus:v3.5.0
)
for target in "${!STANDINS[@]}"; do
  grep -q "image: ${STANDINS[$target]#docker.io/library/}\|image: ${STANDINS[$target]#docker.io/}" compose.yaml ||
    { echo "compose.yaml no longer uses ${STANDINS[$target]}: update ${0}"; exit 1; }
  podman image exists "${STANDINS[$target]}" && continue
  podman build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" --target "$target" -t "${STANDINS[$target]}" \
    .ci/compose-standins
done

# compose.yaml with absolute paths (it is run from $WORK) and Caddy on high ports.
sed -e "s#\./deploy/#$REPO/deploy/#; s#\./docs/#$REPO/docs/#; s#context: \.#context: $REPO#" \
    -e "s#\"80:80\"#\"$HTTP_PORT:80\"#; s#\"443:443\"#\"$HTTPS_PORT:443\"#; s#\"443:443/udp\"#\"$HTTPS_PORT:443/udp\"#" \
    compose.yaml > "$WORK/compose.yaml"
# .env.example with the required values filled in; simulated callees; Redis and PgBouncer published on ports
# that the host's own servers do not use (the dial role reaches them there, on the host network).
sed -e 's/^SECRET_KEY=$/SECRET_KEY=compose-smoke-secret-key-0123456789abcdefghijklmnopqrstuvwxyz/' \
    -e 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=pg0123456789abcdef/' \
    -e 's/^REDIS_PASSWORD=$/REDIS_PASSWORD=redis0123456789abcdef/' \
    -e 's/^METRICS_TOKEN=$/METRICS_TOKEN=metrics0123456789abcdef/' \
    -e 's/^GRAFANA_ADMIN_PASSWORD=$/GRAFANA_ADMIN_PASSWORD=unused/' \
    -e 's/^FLOWER_BASIC_AUTH=$/FLOWER_BASIC_AUTH=admin:flower0123456789/' \
    -e 's/^TELEPHONY_PROVIDER=.*/TELEPHONY_PROVIDER=simulated/' \
    -e 's/^PGBOUNCER_HOST_PORT=.*/PGBOUNCER_HOST_PORT=26432/' \
    -e 's/^REDIS_HOST_PORT=.*/REDIS_HOST_PORT=26379/' \
    -e 's/^DIAL_CONCURRENCY=.*/DIAL_CONCURRENCY=2/' \
    -e 's/^POST_CALL_CONCURRENCY=.*/POST_CALL_CONCURRENCY=1/' \
    -e 's/^OPS_CONCURRENCY=.*/OPS_CONCURRENCY=1/' \
    -e 's/^WEB_CONCURRENCY=.*/WEB_CONCURRENCY=1/' \
    .env.example > "$WORK/robot.env"
echo "ROBOT_IMAGE=$ROBOT_IMAGE" >> "$WORK/robot.env"

down() { compose down -v -t 15 >/dev/null 2>&1 || true; }
trap down EXIT
down

ctr() { podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1; }
# podman 4.3 cannot wait for `service_healthy` (podman-compose skips that condition before podman 4.6, and without
# systemd no health check runs by itself): bring the data services up first and wait for them here.
# So the order compose.yaml's conditions give is kept by hand, one step at a time (--no-deps: podman-compose would
# otherwise recreate the dependencies of each batch).
echo "== up: postgres, redis, pgbouncer"
compose up -d --no-deps postgres redis pgbouncer
for _ in $(seq 60); do podman exec "$(ctr postgres)" pg_isready -q -U robocall -d robocall 2>/dev/null && break; sleep 1; done
podman exec "$(ctr postgres)" pg_isready -U robocall -d robocall
echo "== up: migrate (one-shot)"
compose up -d --no-deps migrate
for _ in $(seq 120); do
  [ "$(podman inspect -f '{{.State.Status}}' "$(ctr migrate)")" = exited ] && break; sleep 1
done
podman logs "$(ctr migrate)" 2>&1 | tail -2
code=$(podman inspect -f '{{.State.ExitCode}}' "$(ctr migrate)")
echo "migrate exit code: $code"
[ "$code" = 0 ]
echo "== up: web, dial, post_call, ops, beat, flower, caddy, prometheus"
compose up -d --no-deps web dial post_call ops beat flower caddy prometheus
sleep 25
podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}\t{{.Status}}\t{{.Ports}}'

echo "== HEALTHCHECK of every robot service"
for s in web dial post_call ops beat flower; do podman exec "$(ctr "$s")" python /app/deploy/healthcheck.py; done
echo "== PostgreSQL: connections to the robot database by client address (PgBouncer and migrate)"
podman exec "$(ctr postgres)" psql -U robocall -d robocall -Atc \
  "select client_addr, count(*) from pg_stat_activity where datname = 'robocall' group by 1"

echo "== through Caddy: https://robot.example.com:$HTTPS_PORT/"
curl=(curl -sk --resolve "robot.example.com:$HTTPS_PORT:127.0.0.1")
"${curl[@]}" -D - -o /dev/null "https://robot.example.com:$HTTPS_PORT/healthz" | grep -iE '^(HTTP|strict-transport)'
"${curl[@]}" "https://robot.example.com:$HTTPS_PORT/healthz"; echo
"${curl[@]}" -o /dev/null -w '/admin/login/ %{http_code}\n' "https://robot.example.com:$HTTPS_PORT/admin/login/"
"${curl[@]}" -o /dev/null -w '/metrics %{http_code}\n' "https://robot.example.com:$HTTPS_PORT/metrics"
"${curl[@]}" -o /dev/null -w '/flower/ %{http_code}\n' "https://robot.example.com:$HTTPS_PORT/flower/"
"${curl[@]}" -o /dev/null -w '/flower/ with auth %{http_code}\n' -u admin:flower0123456789 \
  "https://robot.example.com:$HTTPS_PORT/flower/"

echo "== a dry-run campaign (web's environment: through PgBouncer; dial on the host network)"
podman exec -i "$(ctr web)" python manage.py shell < .ci/image-campaign.py

echo "== Prometheus: scrape targets and rules"
sleep 35  # one scrape interval
podman exec "$(ctr prometheus)" python3 -c '
import json, urllib.request
targets = json.load(urllib.request.urlopen("http://localhost:9090/api/v1/targets"))["data"]["activeTargets"]
for t in targets:
    print(t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"])
groups = json.load(urllib.request.urlopen("http://localhost:9090/api/v1/rules"))["data"]["groups"]
print(len(groups), "rule groups,", sum(len(g["rules"]) for g in groups), "rules")
q = urllib.parse.quote("sum(robocall_calls_total)")
print("sum(robocall_calls_total) =", json.load(urllib.request.urlopen("http://localhost:9090/api/v1/query?query=" + q))["data"]["result"])
'
echo "COMPOSE SMOKE DONE"
