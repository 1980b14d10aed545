#!/bin/sh
# The whole test suite: a normal build with warnings as errors, then the same suite
# under AddressSanitizer and UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."
meson setup build --reconfigure -Dwerror=true >/dev/null 2>&1 || meson setup build -Dwerror=true
meson compile -C build
meson test -C build --print-errorlogs
meson setup build-asan --reconfigure -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1 ||
    meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs
