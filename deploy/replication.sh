#!/usr/bin/env bash
# Runs once, when the primary's data directory is first initialised (the postgres image's
# /docker-entrypoint-initdb.d): a role the replica streams with, and the line that lets it in.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
