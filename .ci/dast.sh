#!/usr/bin/env bash
# DAST: wapiti against the app served by gunicorn on 127.0.0.1, logged out and logged in as a tenant manager.
# Not part of the tests (wapiti is a Debian package, not a Python dependency): `apt-get install -y wapiti`, then
#   .ci/dast.sh            # reports in test-artifacts/dast/ (wapiti-anonymous.json, wapiti-manager.json, access.log)
# Uses a scratch database (DAST_DB, dropped and re-created) and Redis databases 12/13. In wapiti 3.0.4
# DAST_MAX_SCAN_TIME (default 300 s) bounds the crawl only; each attack module is bounded by DAST_MAX_ATTACK_TIME
# (default 60 s): about 20 minutes for both scans on 2 cores. Triage: docs/SECURITY.md, "DAST".
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wapiti >/dev/null || { echo "wapiti is not installed: apt-get install -y wapiti" >&2; exit 2; }

PORT=${DAST_PORT:-8765}
DB=${DAST_DB:-robocall_dast}
MAX=${DAST_MAX_SCAN_TIME:-300}
ATTACK=${DAST_MAX_ATTACK_TIME:-60}
OUT=test-artifacts/dast
PY=${PYTHON:-.venv/bin/python}
BASE=http://127.0.0.1:$PORT
mkdir -p "$OUT"
WORK=$(mktemp -d)

export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export REDIS_URL=redis://127.0.0.1:6379/12 CACHE_URL=redis://127.0.0.1:6379/13
export SECRET_KEY=dast-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DEBUG=false ALLOWED_HOSTS=127.0.0.1 STATIC_ROOT=$WORK/static
export SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false  # plain http on loopback: the browser-side flags only
# The scanner is one client sending thousands of requests: throttles would answer most of them 429.
export API_THROTTLE_ANON=100000/min API_THROTTLE_USER=100000/min API_THROTTLE_UPLOAD=100000/min \
  API_THROTTLE_EXPORT=100000/min API_THROTTLE_LIFECYCLE=100000/min API_THROTTLE_TOKEN=100000/min

psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
redis-cli -h 127.0.0.1 -n 12 flushdb >/dev/null && redis-cli -h 127.0.0.1 -n 13 flushdb >/dev/null
$PY manage.py migrate -v 0
$PY manage.py collectstatic --noinput -v 0
$PY .ci/dast_seed.py "$WORK/cookies.json"

.venv/bin/gunicorn project.wsgi -c gunicorn.conf.py -b 127.0.0.1:$PORT -w 2 --access-logfile "$OUT/access.log" \
  --error-logfile "$OUT/gunicorn.log" &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 30); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 1; done

# wapiti 3.0.4 (Debian 12) compiles -x patterns with a trailing "(?ms)", an error since Python 3.11: run it with
# that one function fixed. Without -x the logged-in scan would post the admin's logout form and go on logged out.
wapiti() {
  /usr/bin/python3 - "$@" <<'PY'
import re, sys
import wapitiCore.net.crawler as crawler
crawler.wildcard_translate = lambda p: re.compile("(?ms)" + "".join(".*" if c == "*" else re.escape(c) for c in p) + r"\Z")
from wapitiCore.main.wapiti import wapiti_main
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
PY
}

scan() {  # name, extra wapiti arguments
  local name=$1; shift
  wapiti -u "$BASE/" --scope folder --flush-session --store-session "$WORK/session-$name" \
    --max-scan-time "$MAX" --max-attack-time "$ATTACK" -t 10 -v 1 -f json -o "$OUT/wapiti-$name.json" \
    -x "$BASE/admin/logout/" "$@" || echo "wapiti ($name) exited $?"
}

date -u +"scan started %Y-%m-%dT%H:%M:%SZ" | tee "$OUT/when.txt"
scan anonymous -s "$BASE/admin/" -s "$BASE/api/docs/" -s "$BASE/api/v1/tenants/"
scan manager -c "$WORK/cookies.json" -s "$BASE/admin/" -s "$BASE/api/docs/" -s "$BASE/api/v1/tenants/" \
  -s "$BASE/api/v1/tenants/dast-alpha/campaigns/" -s "$BASE/api/v1/tenants/dast-alpha/calls/"
date -u +"scan ended %Y-%m-%dT%H:%M:%SZ" | tee -a "$OUT/when.txt"
grep -c '" 5[0-9][0-9] ' "$OUT/access.log" | sed 's/^/5xx answers in access.log: /' || true
$PY - "$OUT" <<'PY'
import json, sys, pathlib
for report in sorted(pathlib.Path(sys.argv[1]).glob("wapiti-*.json")):
    data = json.loads(report.read_text())
    print(f"== {report.name}")
    for kind in ("vulnerabilities", "anomalies", "additionals"):
        for category, items in data.get(kind, {}).items():
            for item in items:
                print(f"  [{kind[:-1] if kind != 'additionals' else 'additional'}] {category}: {item.get('method')} {item.get('path')} {item.get('info')!r} param={item.get('parameter')!r}")
PY
