#!/usr/bin/env bash
# The five-office demo region on loopback: installs what is missing, builds
# kotosyncd (release), starts jakobstad, nykarleby, kronoby, pedersore and
# larsmo on 127.0.0.1:7101-7105 from Config/demo/, loads each office's share
# of the generated demo region, waits until all five replicas converge,
# prints each node's sync status, a summary of the merged view and the web
# page's URL with the demo tokens to sign in with, and keeps running until
# Ctrl-C, which stops all five cleanly.
#
#   deploy/demo.sh            fresh demo data each start
#   deploy/demo.sh --keep     keep .demo/data from the last run
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

keep=false
case "${1:-}" in
    --keep) keep=true ;;
    "") ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: deploy/demo.sh [--keep]" >&2; exit 2 ;;
esac

need_packages pkg-config libsqlite3-dev libcurl4-openssl-dev libssl-dev curl jq
need_swift

echo "==> building kotosyncd (release)"
swift build -c release --product kotosyncd
bin="$(swift build -c release --show-bin-path)/kotosyncd"

nodes=(jakobstad nykarleby kronoby pedersore larsmo)
ports=(7101 7102 7103 7104 7105)
# The demo's plain tokens by holder (demo only; real nodes keep digests only).
credentials=Config/demo/credentials.json
admin="Authorization: Bearer $(jq -er .admin "$credentials")"
coordinator="Authorization: Bearer $(jq -er .coordinator "$credentials")"
office="Authorization: Bearer $(jq -er '.offices["598"]' "$credentials")"   # Jakobstad's office

for port in "${ports[@]}"; do
    if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
        echo "error: something already listens on 127.0.0.1:$port (another demo running?)" >&2
        exit 1
    fi
done

# Git does not keep file modes; the daemon refuses key and secrets files
# that grant anything to group or others (and a data directory wider than 0700).
chmod 600 Config/demo/keys/*.key Config/demo/secrets/*.json
# The scrape credential for deploy/prometheus/prometheus.yml (git-ignored).
(umask 077 && jq -er .scrape "$credentials" > deploy/prometheus/scrape.token)
$keep || rm -rf .demo/data
mkdir -p .demo/logs
# The five demo nodes share one data directory: owner only, as the daemon requires.
mkdir -p -m 700 .demo/data
chmod 700 .demo/data

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping the five nodes"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "==> stopped (logs in .demo/logs, data in .demo/data)"
}
trap stop_all INT TERM EXIT

for node in "${nodes[@]}"; do
    # Own session: Ctrl-C reaches only this script, which then stops each node once.
    setsid "$bin" --config "Config/demo/$node.json" 2>".demo/logs/$node.log" &
    pids+=($!)
done

echo "==> waiting for the nodes to answer"
for i in "${!nodes[@]}"; do
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:${ports[$i]}/healthz" && break
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "error: ${nodes[$i]} exited; its log:" >&2
            tail -n 20 ".demo/logs/${nodes[$i]}.log" >&2
            exit 1
        fi
        sleep 0.2
    done
done

status() { curl -s -H "$admin" "http://127.0.0.1:$1/v1/status"; }

echo "==> waiting for the five replicas to converge"
start=$(date +%s)
while true; do
    vectors=$(for port in "${ports[@]}"; do status "$port" | jq -c '.versionVector'; done | sort -u)
    origins=$(echo "$vectors" | head -n 1 | jq 'length')
    if [ "$(echo "$vectors" | wc -l)" -eq 1 ] && [ "$origins" -eq 5 ]; then break; fi
    if [ $(( $(date +%s) - start )) -gt 300 ]; then
        echo "error: no convergence after 300 s; see .demo/logs" >&2
        exit 1
    fi
    sleep 1
done
echo "    converged in $(( $(date +%s) - start )) s: every node holds $(echo "$vectors" | jq -c .)"

echo
echo "==> sync status"
for i in "${!nodes[@]}"; do
    status "${ports[$i]}" | jq -r '"\(.node) (:'"${ports[$i]}"') log position \(.logPosition), open conflicts \(.conflicts)",
        (.peers[] | "    \(.node): \(.state), lag \(.lag), last success \(.lastSuccess // "never")")'
done

# Counts every record of a kind at one node, page by page.
count() {
    local port=$1 kind=$2 query=${3:-} after="" total=0
    while true; do
        page=$(curl -s -H "$coordinator" "http://127.0.0.1:$port/v1/$kind?limit=1000${query}${after:+&after=$after}")
        total=$(( total + $(echo "$page" | jq '.items | length') ))
        after=$(echo "$page" | jq -r '.next // empty')
        [ -n "$after" ] || break
    done
    echo "$total"
}

echo
echo "==> merged view at jakobstad (the coordinator's region-wide picture)"
printf '    %-12s %8s\n' "services" "$(count 7101 services)"
printf '    %-12s %8s\n' "clients" "$(count 7101 clients)"
printf '    %-12s %8s\n' "placements" "$(count 7101 placements)"
echo "    clients by municipality:"
for code in 598 893 288 599 440; do
    printf '      %-5s %6s\n' "$code" "$(count 7101 clients "&ownerMunicipality=$code")"
done
echo "    municipal placements: $(count 7101 placements "&type=municipal_placement")"

echo
echo "==> the web page: http://127.0.0.1:7101/ (every node serves it: 7101-7105)"
echo "    sign in by pasting a demo token from $credentials:"
echo "      coordinator (tables, reports, conflicts, sync):  $(jq -er .coordinator "$credentials")"
echo "      admin (sync state):                              $(jq -er .admin "$credentials")"
echo "      Jakobstad's office (records, reports):           $(jq -er '.offices["598"]' "$credentials")"
echo "      (the other offices' tokens: .offices[\"893\"], [\"288\"], [\"599\"], [\"440\"])"
echo
echo "The region runs on http://127.0.0.1:7101-7105 (demo tokens in $credentials), e.g."
echo "  curl -H '$coordinator' http://127.0.0.1:7103/v1/clients?limit=5"
echo "  curl -H '$admin' http://127.0.0.1:7101/v1/status"
echo "  curl -H '$office' 'http://127.0.0.1:7101/v1/clients?ownerMunicipality=598&limit=5'"
echo "  curl -H 'Authorization: Bearer $(cat deploy/prometheus/scrape.token)' http://127.0.0.1:7101/metrics"
echo "Prometheus for all five: (cd deploy/prometheus && prometheus --config.file=prometheus.yml)"
echo "Press Ctrl-C to stop all five."
wait
