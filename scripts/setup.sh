#!/usr/bin/env bash
# Set up pycanal on a fresh Debian machine, idempotently: the real servers the tests and the quickstart
# start (MariaDB, ZooKeeper, RabbitMQ; nothing is started here: the tests use a broker already answering on
# 127.0.0.1:5672 or start a node of their own), a virtualenv in .venv, and pycanal with its extras (pika
# among its dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need_apt+=(mariadb-client)
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Debian's policy-rc.d keeps the packages from starting their services; pycanal starts its own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.pycanal-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
  touch "$stamp"
fi
