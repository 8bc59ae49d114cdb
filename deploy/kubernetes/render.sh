#!/bin/sh
# Renders the manifests of one sharded run for `kubectl apply -f -`: the scenario as a ConfigMap, a fresh
# control-API token as a Secret, the shared volume, the mock (Deployment and Service), the shards (an
# Indexed Job of SHARDS pods) and the merge Job, named and keeping their run directories under
# /runs/RUN_ID; a new run (a new RUN_ID) also restarts the mock, so no barrier or counter is left over.
#
#   deploy/kubernetes/render.sh SHARDS SCENARIO [IMAGE] | kubectl apply -f -
#
# IMAGE defaults to wschaos:latest (see the Dockerfile at the repository's root). RUN_ID (lowercase letters,
# digits and '-') defaults to the scenario's file name and the UTC time; set it to name the run yourself.
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
# Read as decimal (08 is 8); more than 4 digits is out of range before any arithmetic.
shards=$(printf '%s' "$shards" | sed 's/^0*//')
if [ -z "$shards" ] || [ "${#shards}" -gt 4 ] || [ "$shards" -gt 4096 ]; then
    echo "$0: SHARDS must be a number from 1 to 4096, not '$1'" >&2
    exit 2
fi
if [ ! -r "$scenario" ]; then
    echo "$0: cannot read the scenario '$scenario'" >&2
    exit 2
fi
here=$(dirname "$0")
stem=$(basename "$scenario" .toml | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-' | cut -c1-30)
run_id=${RUN_ID:-$stem-$(date -u +%Y%m%d-%H%M%S)}
# The run's id names its Jobs and its directory: a DNS label (lowercase letters, digits and '-').
case $run_id in
    '' | -* | *- | *[!a-z0-9-]*)
        echo "$0: RUN_ID must be lowercase letters, digits and '-' (not first or last), not '$run_id'" >&2
        exit 2 ;;
esac
if [ "${#run_id}" -gt 50 ]; then
    echo "$0: RUN_ID must be at most 50 characters, not '$run_id'" >&2
    exit 2
fi
run=/runs/$run_id
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
    sed -e "s|@SHARDS@|$shards|g" -e "s|@IMAGE@|$image|g" -e "s|@RUNID@|$run_id|g" -e "s|@RUN@|$run|g" \
        "$here/$part.yaml"
    [ "$part" = merge ] || echo "---"
done
