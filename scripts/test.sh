#!/bin/sh
# The whole test suite: a normal build with warnings as errors, the same suite under
# AddressSanitizer and UndefinedBehaviorSanitizer, then the fuzzers for a fixed number of runs.
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
# The libFuzzer harnesses (fuzz/), built with clang, each run for a fixed number of
# inputs from its seed corpus; docs/fuzzing.md says how to run a long campaign.
fuzz_setup="-Dwerror=true -Dfuzz=true -Dtests=false -Dexamples=false -Dlua_module=false
    -Dc_args=-fsanitize=fuzzer-no-link -Db_sanitize=address,undefined -Db_lundef=false"
# shellcheck disable=SC2086
CC=clang meson setup build-fuzz --reconfigure $fuzz_setup >/dev/null 2>&1 ||
    CC=clang meson setup build-fuzz $fuzz_setup
meson compile -C build-fuzz
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-fuzz --suite fuzz --print-errorlogs
