#!/usr/bin/env bash
# The option and address parsers under libFuzzer (with ASan/UBSan) for a bounded time.
exec bash "$(dirname "$0")/../fuzz.sh" "$1" "${SSA_FUZZ_SECONDS:-30}"
