#!/bin/sh
# Renders the manifests of one sharded run for `kubectl apply -f -`: the scenario as a ConfigMap, a fresh
# control-API token as a Secret, the shared volume, the mock (Deployment and Service), the shards (an
# Indexed Job of SHARDS pods) and the merge Job, their run directories under /runs/RUN_ID.
#
#   deploy/kubernetes/render.sh SHARDS SCENARIO [IMAGE] | kubectl apply -f -
#
# IMAGE defaults to wschaos:latest (see the Dockerfile at the repository's root). RUN_ID defaults to the
# scenario's file name and the UTC time; set it to name the run yourself.
set -eu
if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 SHARDS SCENARIO [IMAGE]" >&2
    exit 2
fi
shards=$1
scenario=$2
image=${3:-wschaos:latest}
case $shards in
    '' | *[!0-9]*) echo "$0: SHARDS must be a number from 1 to 4096, not '$shards'" >&2; exit 2 ;;
esac
if [ "$shards" -lt 1 ] || [ "$shards" -gt 4096 ]; then
    echo "$0: SHARDS must be a number from 1 to 4096, not '$shards'" >&2
    exit 2
fi
if [ ! -r "$scenario" ]; then
    echo "$0: cannot read the scenario '$scenario'" >&2
    exit 2
fi
here=$(dirname "$0")
run=/runs/${RUN_ID:-$(basename "$scenario" .toml)-$(date -u +%Y%m%dT%H%M%SZ)}
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: wschaos-scenario
  labels: {app.kubernetes.io/name: wschaos}
data:
  scenario.toml: |
$(sed 's/^/    /' "$scenario")
---
apiVersion: v1
kind: Secret
metadata:
  name: wschaos-control
  labels: {app.kubernetes.io/name: wschaos}
type: Opaque
stringData:
  token: "$token"
---
YAML
for part in storage mock shards merge; do
    sed -e "s|@SHARDS@|$shards|g" -e "s|@IMAGE@|$image|g" -e "s|@RUN@|$run|g" "$here/$part.yaml"
    [ "$part" = merge ] || echo "---"
done
