#!/usr/bin/env bash
# Real Knative for spright-bench: a kind cluster with Knative Serving + Kourier at pinned
# versions, the spright-bench image loaded into it, and one chain deployed as Knative Services.
# Then measure it from this machine with the same driver:
#   spright-bench run --backend knative-remote --backend-opt ingress=127.0.0.1:8080 --chain CHAIN
#
# Needs a Docker engine, kind, kubectl, 3 CPUs and 3 GB of memory for Docker. It cannot run on a
# machine without a Docker engine (such as the project's CI machines); see README.md here.
#
# Usage: up.sh [CHAIN_TOML]   (default: workloads/chains/synthetic-5.toml)
set -euo pipefail

KNATIVE_VERSION="knative-v1.16.0" # Knative Serving and net-kourier release
KIND_NODE_IMAGE="kindest/node:v1.31.0"
CLUSTER="${SPRIGHT_KIND_CLUSTER:-spright}"
IMAGE="spright-bench:dev"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
chain="${1:-$root/workloads/chains/synthetic-5.toml}"

die() { echo "up.sh: $*" >&2; exit 1; }
for tool in docker kind kubectl cargo; do
    command -v "$tool" >/dev/null || die "$tool is not installed (see $here/README.md)"
done
docker info >/dev/null 2>&1 || die "no Docker engine is reachable: kind needs one (see $here/README.md)"
[ -f "$chain" ] || die "no chain spec at $chain"

echo "== building spright-bench (release)"
(cd "$root" && cargo build --release -p spright-bench)
bin="${CARGO_TARGET_DIR:-$root/target}/release/spright-bench"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" knative manifests --chain "$chain" --out "$work" --image "$IMAGE"
cp "$bin" "$work/spright-bench"

if ! kind get clusters | grep -qx "$CLUSTER"; then
    echo "== creating kind cluster $CLUSTER"
    kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --config "$here/kind-config.yaml"
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

echo "== installing Knative Serving $KNATIVE_VERSION with Kourier"
base="https://github.com/knative"
kubectl apply -f "$base/serving/releases/download/$KNATIVE_VERSION/serving-crds.yaml"
kubectl wait --for=condition=Established --all crd --timeout=120s
kubectl apply -f "$base/serving/releases/download/$KNATIVE_VERSION/serving-core.yaml"
kubectl apply -f "$base/net-kourier/releases/download/$KNATIVE_VERSION/kourier.yaml"
kubectl patch configmap/config-network -n knative-serving --type merge \
    -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
# Hosts are <service>.<namespace>.example.com, as spright-bench's names module builds them.
kubectl patch configmap/config-domain -n knative-serving --type merge -p '{"data":{"example.com":""}}'
# Kourier on a fixed NodePort, published on the host by kind-config.yaml.
kubectl patch service/kourier -n kourier-system --type merge -p \
    '{"spec":{"type":"NodePort","ports":[{"name":"http2","port":80,"protocol":"TCP","targetPort":8080,"nodePort":31080}]}}'
kubectl wait --for=condition=Available deployment --all -n knative-serving --timeout=300s
kubectl wait --for=condition=Available deployment --all -n kourier-system --timeout=300s

echo "== loading image $IMAGE"
docker build -t "$IMAGE" "$work"
kind load docker-image "$IMAGE" --name "$CLUSTER"

echo "== deploying $(basename "$chain")"
kubectl apply -f "$work/services.yaml"
ns="$(awk '/^kind: Namespace/{f=1} f&&/name:/{print $2; exit}' "$work/services.yaml")"
kubectl wait ksvc --all -n "$ns" --for=condition=Ready --timeout=300s
kubectl get ksvc -n "$ns"

cat <<MSG

Knative is serving the chain. Measure it with:
  $bin run --backend knative-remote --backend-opt ingress=127.0.0.1:8080 --chain $chain
Remove the cluster with: $here/down.sh
MSG
