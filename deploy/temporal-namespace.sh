#!/bin/sh
# One-shot job (temporalio/admin-tools): once the Temporal server answers, create the namespace
# and register Handrail's custom search attributes in it. Run by the `temporal-namespace`
# service; the workers wait for it (service_completed_successfully), so a worker never meets a
# missing namespace or an unknown search attribute.
#
# Idempotent: an existing namespace is kept, and creating a search attribute that already exists
# with the same type succeeds. Keep the list below equal to handrail/search_attributes.py
# (tests/test_compose.py checks it). The worker registers missing ones too
# (handrail.connect.ensure_search_attributes), but only as a best effort.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"

attempt=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "Temporal at $ADDRESS is not serving after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" \
    --retention "$RETENTION"
  echo "namespace $NAMESPACE created (retention $RETENTION)"
fi

# A namespace just created may take a moment to reach every server role: retry.
attempt=0
until temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
  --name AwaitingReview --type Bool \
  --name ReviewTier --type Keyword \
  --name ReviewTool --type Keyword \
  --name HandrailProfile --type Keyword \
  --name HandrailStatus --type Keyword \
  --name HandrailTokens --type Int; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "could not register the search attributes in $NAMESPACE" >&2
    exit 1
  fi
  sleep 2
done

temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE"
