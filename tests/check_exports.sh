#!/bin/sh
# Every symbol the shared library exports is a public glarex_ function declared in the
# header, and every function the header declares is exported.
set -eu
lib=$1
header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -v '^#' "$header" | sed -n 's/.*GLAREX_EXTERN([^)]*)[[:space:]]*\([a-z_0-9]*\)(.*/\1/p' | sort -u)
status=0
for s in $exported; do
    case " $(echo $declared) " in
    *" $s "*) ;;
    *) echo "exported but not in glarex.h: $s"; status=1 ;;
    esac
done
for s in $declared; do
    case " $(echo $exported) " in
    *" $s "*) ;;
    *) echo "declared in glarex.h but not exported: $s"; status=1 ;;
    esac
done
[ $status -eq 0 ] && echo "exports: $(echo "$exported" | wc -l) symbols match glarex.h"
exit $status
