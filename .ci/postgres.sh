#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server with a throwaway database for the storage tests.
# Source it: it exports MODERATION_TEST_PG_URL. Needs root (apt-get, su postgres); Debian's packages.
set -euo pipefail

PG_DB=moderation_test
PG_USER=moderation
PG_PASSWORD=moderation

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
read -r PG_VERSION PG_CLUSTER PG_PORT _ < <(pg_lsclusters --no-header | head -n 1) || true
if [ -z "${PG_VERSION:-}" ]; then
    PG_VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    PG_CLUSTER=main
    pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >/dev/null
    read -r PG_VERSION PG_CLUSTER PG_PORT _ < <(pg_lsclusters --no-header | head -n 1)
fi
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 2>/dev/null || true
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$PG_PORT"

psql_admin() { su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qAt $*"; }
if [ -z "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'\"")" ]; then
    psql_admin "-c \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'\""
fi
if [ -z "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname = '$PG_DB'\"")" ]; then
    psql_admin "-c \"CREATE DATABASE $PG_DB OWNER $PG_USER\""
fi
export MODERATION_TEST_PG_URL="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
echo "PostgreSQL $PG_VERSION ready for the storage tests on port $PG_PORT"
