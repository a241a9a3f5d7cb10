#!/bin/sh
# The image's entrypoint: the first argument picks the process type (the Procfile's lines, plus `migrate`).
#   web | dial | post_call | ops | beat | flower   long-running roles (one container each)
#   migrate                                         apply database migrations once, then exit
#   manage <args>                                   python manage.py <args> (createsuperuser, check --deploy, ...)
#   anything else                                   run as given (celery ..., python ..., bash)
# Differences from the Procfile: web does not migrate (the one-shot `migrate` role does, once per deployment)
# and static files were collected when the image was built.
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

# The healthcheck (deploy/healthcheck.py) reads which role this container runs and the Celery node name.
health_file="${ROBOT_HEALTH_FILE:-/tmp/robot-role}"
node="${CELERY_NODE_NAME:-${role}@$(uname -n)}"
printf '%s\n%s\n' "$role" "$node" > "$health_file" 2>/dev/null || true

loglevel="${CELERY_LOG_LEVEL:-info}"
case "$role" in
  web)
    exec gunicorn project.wsgi --bind "0.0.0.0:${PORT:-8000}" --workers "${WEB_CONCURRENCY:-2}" \
      --timeout "${GUNICORN_TIMEOUT:-60}" --access-logfile - "$@" ;;
  dial)
    exec celery -A project worker -Q dial -c "${DIAL_CONCURRENCY:-4}" -n "$node" -l "$loglevel" "$@" ;;
  post_call)
    exec celery -A project worker -Q post_call,tts -c "${POST_CALL_CONCURRENCY:-2}" -n "$node" -l "$loglevel" "$@" ;;
  ops)
    exec celery -A project worker -Q default,webhooks -c "${OPS_CONCURRENCY:-2}" -n "$node" -l "$loglevel" "$@" ;;
  beat)
    # Exactly one per deployment. Its schedule file is scratch state (the schedule itself is in settings).
    exec celery -A project beat -s "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" -l "$loglevel" "$@" ;;
  flower)
    exec celery -A project flower --port="${FLOWER_PORT:-5555}" \
      --basic-auth="${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}" "$@" ;;
  migrate)
    # Behind PgBouncer in transaction mode, migrate straight against PostgreSQL (MIGRATE_DATABASE_URL).
    DATABASE_URL="${MIGRATE_DATABASE_URL:-${DATABASE_URL:-}}"
    [ -n "$DATABASE_URL" ] && export DATABASE_URL
    exec python manage.py migrate --noinput "$@" ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
