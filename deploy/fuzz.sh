#!/usr/bin/env bash
# Builds the libFuzzer harnesses of Tests/Fuzz and runs each for SECONDS
# (default 300) from its seed corpus (Tests/Fuzz/corpus/<harness>).
#
#   deploy/fuzz.sh [SECONDS] [HARNESS...]     HARNESS: http json wire config (default: all)
#
# SwiftPM cannot build fuzzers, so this calls swiftc itself: each product
# module the harnesses need is compiled once, with the fuzzer's coverage
# instrumentation and AddressSanitizer (which includes LeakSanitizer), to
# an object file and a module under .build/fuzz; each harness links against
# the objects it needs, and libFuzzer's runtime (shipped with the Swift
# toolchain) provides main. Exits non-zero when any fuzzer finds a crash,
# a leak or a hang; the input that did it is kept in .build/fuzz/findings/.
# Add such an input to the corpus once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

need_packages pkg-config libsqlite3-dev libcurl4-openssl-dev libssl-dev
need_swift

seconds=${1:-300}
[ $# -gt 0 ] && shift
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(http json wire config)

out=.build/fuzz
mkdir -p "$out/modules"
flags=(-sanitize=fuzzer,address -parse-as-library -swift-version 6 -g -O -use-ld=lld
       -enable-upcoming-feature ExistentialAny -enable-upcoming-feature InternalImportsByDefault
       -enable-upcoming-feature MemberImportVisibility
       -I "$out/modules" -I Sources/CSQLite -I Sources/CCurl -I Sources/COpenSSL)

# module NAME: Sources/NAME compiled to $out/NAME.o and its .swiftmodule,
# again only when a source (or this script) is newer than the object.
module() {
    local name=$1 object="$out/$1.o"
    local sources
    mapfile -t sources < <(find "Sources/$name" -name '*.swift' | sort)
    if [ -f "$object" ] && [ -z "$(find "Sources/$name" deploy/fuzz.sh -newer "$object" -print -quit)" ]; then return 0; fi
    echo "==> fuzz: compiling $name (${#sources[@]} files)"
    swiftc "${flags[@]}" -enable-testing -module-name "$name" -wmo -num-threads 0 \
        -emit-module -emit-module-path "$out/modules/$name.swiftmodule" -emit-object -o "$object" "${sources[@]}"
}

# harness NAME FILE MODULE...: the fuzzer binary $out/fuzz-NAME.
harness() {
    local name=$1 file=$2
    shift 2
    local objects=()
    for module_name in "$@"; do objects+=("$out/$module_name.o"); done
    swiftc "${flags[@]}" -module-name "Fuzz_$name" "Tests/Fuzz/$file" "${objects[@]}" \
        -lsqlite3 -lcurl -lcrypto -o "$out/fuzz-$name"
}

# What each harness links: the module it fuzzes and everything below it.
modules_of() {
    case $1 in
        http) echo KotoHTTP ;;
        json|wire) echo KotoCore ;;
        config) echo KotoCore KotoCrypto KotoHTTP KotoStore KotoSeed KotoNode ;;
        *) echo "unknown harness $1 (http json wire config)" >&2; exit 2 ;;
    esac
}
file_of() {
    case $1 in http) echo HTTPRequestFuzz.swift ;; json) echo JSONFuzz.swift ;; wire) echo WireBatchFuzz.swift ;; config) echo ConfigFuzz.swift ;; esac
}

built=()
for name in "${harnesses[@]}"; do
    for module_name in $(modules_of "$name"); do
        [[ " ${built[*]} " == *" $module_name "* ]] && continue
        module "$module_name"
        built+=("$module_name")
    done
    # shellcheck disable=SC2046
    harness "$name" "$(file_of "$name")" $(modules_of "$name")
done

# Swift's own backtracer would fight the sanitizer's report.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
failed=()
for name in "${harnesses[@]}"; do
    seeds="Tests/Fuzz/corpus/$name"
    work="$out/corpus/$name"
    findings="$out/findings/$name"
    mkdir -p "$work" "$findings"
    log="$out/fuzz-$name.log"
    set +e
    # New inputs go to the work corpus (first directory); the committed seeds stay as they are.
    "$out/fuzz-$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$seeds" >"$log" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if [ "$status" -eq 0 ]; then
        echo "==> fuzz $name: ${runs:-?} inputs in ${seconds}s, no crash, leak or hang"
    else
        echo "==> fuzz $name FAILED (exit $status); log $log, input in $findings:" >&2
        grep -E 'ERROR:|SUMMARY:|Fatal error|Precondition failed|==[0-9]+==' "$log" | head -8 >&2 || true
        ls "$findings" | head -3 >&2
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "==> fuzzers found problems: ${failed[*]}" >&2
    exit 1
fi
