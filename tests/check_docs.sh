#!/bin/sh
# Every function the public header declares is named in docs/c-api.md.
set -eu
header=$1
doc=$2
status=0
for f in $(grep -v '^#' "$header" | sed -n 's/.*GLAREX_EXTERN([^)]*)[[:space:]]*\([a-z_0-9]*\)(.*/\1/p' | sort -u); do
    if ! grep -q "\`$f\`" "$doc"; then
        echo "not documented in $(basename "$doc"): $f"
        status=1
    fi
done
[ $status -eq 0 ] && echo "every public function is in $(basename "$doc")"
exit $status
