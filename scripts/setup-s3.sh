#!/usr/bin/env bash
# Installs the S3-compatible server the S3 store's tests run against, when missing: moto's
# server mode (`pip install "moto[server]"`, seconds), which speaks the S3 REST API over HTTP on
# loopback. The tests start and stop it themselves.
set -euo pipefail
if ! command -v moto_server >/dev/null 2>&1; then
    echo "setup-s3: installing moto[server] (pip)"
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]"
fi
