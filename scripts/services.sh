#!/usr/bin/env bash
# Start local Redis, PostgreSQL and RabbitMQ when they are installed but not answering. Never fails:
# tests skip (or, under CI=true, fail) with a clear reason when a service is still missing.
set -u
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
  fi
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1 || true
  fi
fi
# RabbitMQ: is anything listening on 5672? (rabbitmq-diagnostics needs the node's cookie; a port
# check does not)
amqp_answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) >/dev/null 2>&1; }
if ! amqp_answers; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "services: starting rabbitmq-server on 127.0.0.1:5672"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do amqp_answers && break; sleep 1; done
  else
    echo "services: RabbitMQ not answering on 127.0.0.1:5672 and not installed" \
      "(apt-get install rabbitmq-server); its tests skip, or fail under CI=true"
  fi
fi
exit 0
