#!/bin/sh
# Heals one VM: restarts the services that should be running and says what it did.
set -eu
for svc in nova-compute libvirtd; do
    if command -v systemctl >/dev/null 2>&1 && ! systemctl is-active --quiet "$svc"; then
        systemctl restart "$svc" && echo "restarted $svc"
    fi
done
echo "healed $(hostname)"
