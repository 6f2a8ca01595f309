#!/bin/sh
# One-shot job (temporalio/admin-tools): create the databases and bring Temporal's schema up to
# the version this admin-tools image ships. Run by the `temporal-schema` service before the
# Temporal server starts (the server waits for it with service_completed_successfully).
#
# Every step is idempotent, so the job runs again on every `docker compose up`:
#   - `create` ignores a database that already exists;
#   - `setup-schema -v 0.0` only creates the version tables and keeps a newer version;
#   - `update-schema` applies only the versions the database lacks. Bumping the admin-tools and
#     server images together (same tag) is how the schema is upgraded.
# It also creates Handrail's own database (HANDRAIL_STATE_DB; the worker migrates its tables with
# Alembic on first use) and the store example's (HANDRAIL_STORE_DB; the worker creates its
# tables at start): the example's business data never shares a database with Handrail's state.
#
# The password comes from SQL_PASSWORD in the environment, never from the command line.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$PORT"
attempt=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL did not answer after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

sql --db "${DBNAME:-temporal}" create
sql --db "${DBNAME:-temporal}" setup-schema -v 0.0
sql --db "${DBNAME:-temporal}" update-schema -d "$SCHEMA_DIR/temporal/versioned"

sql --db "${VISIBILITY_DBNAME:-temporal_visibility}" create
sql --db "${VISIBILITY_DBNAME:-temporal_visibility}" setup-schema -v 0.0
sql --db "${VISIBILITY_DBNAME:-temporal_visibility}" update-schema -d "$SCHEMA_DIR/visibility/versioned"

sql --db "${HANDRAIL_STATE_DB:-handrail}" create
sql --db "${HANDRAIL_STORE_DB:-store}" create

echo "Temporal schema ready; databases ${HANDRAIL_STATE_DB:-handrail} and ${HANDRAIL_STORE_DB:-store} exist"
