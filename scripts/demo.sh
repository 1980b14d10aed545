#!/bin/sh
# The main job, end to end, on the embedded default store (no Glare server needed):
#
#   1. glarex workflow-create stores the heal-VMs workflow and its script as one
#      artifact (heal_vms 1.0.0) in the local directory store;
#   2. glarex eval evaluates the workflow's <% glare('heal_vms', '1.0', ...) %>
#      and prints the script that call fetches (verified, through the cache).
#
# Usage, from a clone, after `meson setup build && meson compile -C build`:
#
#   sh scripts/demo.sh [BUILD_DIR]      (default: build; set up and built if needed)
#
# Idempotent: the demo's "embedded default store" is the default location under a
# private XDG_DATA_HOME (and cache and config dirs) in BUILD_DIR/demo, emptied at the
# start of each run. So a second run starts from the same empty store instead of failing
# on "already exists", and your own store (~/.local/share/glarex/store), cache and
# configuration are never read or changed.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -x "$build/src/cli/glarex" ]; then
    [ -f "$build/build.ninja" ] || meson setup "$build"
    meson compile -C "$build"
fi
case $build in
/*) demo=$build/demo ;;
*) demo=$(pwd)/$build/demo ;;
esac
glarex=$(dirname "$demo")/src/cli/glarex

rm -rf "$demo"
mkdir -p "$demo"
export XDG_DATA_HOME="$demo/data" XDG_CACHE_HOME="$demo/cache" XDG_CONFIG_HOME="$demo/config"
# Nothing from the caller's environment may point the demo elsewhere.
unset GLARE_URL OS_AUTH_TOKEN OS_AUTH_URL GLAREX_CACHE_DIR GLAREX_OFFLINE MISTRAL_URL

echo "\$ glarex workflow-create examples/heal_vms/heal_vms.yaml --resource heal_vm_script.sh=examples/heal_vms/heal_vm_script.sh"
"$glarex" workflow-create examples/heal_vms/heal_vms.yaml \
    --resource heal_vm_script.sh=examples/heal_vms/heal_vm_script.sh
echo
echo "\$ glarex eval --raw \"<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>\""
"$glarex" eval --raw "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>"
