#!/bin/sh
# Installs the Debian packages listed in scripts/packages.txt (run as root).
set -eu
here=$(dirname "$0")
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2046
apt-get install -y -qq --no-install-recommends $(grep -v '^#' "$here/packages.txt")
