#!/bin/sh
# edoburu/pgbouncer's contract, as far as compose.yaml uses it: DB_*, AUTH_TYPE, LISTEN_PORT, POOL_MODE,
# MAX_CLIENT_CONN, DEFAULT_POOL_SIZE become pgbouncer.ini and userlist.txt.
set -eu
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" > /etc/pgbouncer/userlist.txt
cat > /etc/pgbouncer/pgbouncer.ini <<INI
[databases]
${DB_NAME:-*} = host=$DB_HOST port=${DB_PORT:-5432} auth_user=$DB_USER
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = ${LISTEN_PORT:-5432}
auth_file = /etc/pgbouncer/userlist.txt
auth_type = ${AUTH_TYPE:-md5}
pool_mode = ${POOL_MODE:-session}
max_client_conn = ${MAX_CLIENT_CONN:-100}
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
ignore_startup_parameters = extra_float_digits
admin_users = $DB_USER
INI
exec "$@"
