#!/usr/bin/env bash
# The option and address parsers, and ssad's control protocol, under libFuzzer (with ASan and
# UBSan) for a bounded time: SSA_FUZZ_SECONDS in all (default 30), split between the two.
exec bash "$(dirname "$0")/../fuzz.sh" "$1" "${SSA_FUZZ_SECONDS:-30}"
