#!/usr/bin/env bash
# Delete the kind cluster made by up.sh.
set -euo pipefail
kind delete cluster --name "${SPRIGHT_KIND_CLUSTER:-spright}"
