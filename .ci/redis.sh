#!/usr/bin/env bash
# Install (if needed) and start a local Redis server on 127.0.0.1 for the several-instances tests.
# Source it: it exports MODERATION_TEST_REDIS_URL. Needs root for apt-get; Debian's redis-server package.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}

if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    # Loopback only, nothing written to disk: the tests keep only short-lived counts in it.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
        --logfile /tmp/moderation-test-redis.log
fi
for _ in $(seq 1 30); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 1
done
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null
export MODERATION_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "Redis ready for the several-instances tests on port $REDIS_PORT"
