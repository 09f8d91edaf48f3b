#!/usr/bin/env bash
# Runs the Autobahn testsuite's fuzzingclient (crossbario/autobahn-testsuite)
# against lariat's echo server, then fails unless every case is OK or
# INFORMATIONAL (autobahn/check). Needs docker or podman; CI does not call
# it: `go test ./autobahn/...` covers the same case families without one.
#
#   autobahn/run.sh                                 # Linux: host network
#   AUTOBAHN_HOST=host.docker.internal autobahn/run.sh   # Docker Desktop
#
# The report lands in autobahn/reports/servers/ (index.html for people,
# index.json for the checker).
set -euo pipefail

cd "$(dirname "$0")/.."
image=${AUTOBAHN_IMAGE:-crossbario/autobahn-testsuite}
host=${AUTOBAHN_HOST:-127.0.0.1}
port=9001

engine=
for e in docker podman; do
	if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then
		engine=$e
		break
	fi
done
if [ -z "$engine" ]; then
	echo "run.sh: no container engine: neither docker nor podman is installed and running." >&2
	echo "run.sh: install one, or run wstest yourself (see autobahn/README.md)," >&2
	echo "run.sh: or run the Go suite, which needs none: go test ./autobahn/..." >&2
	exit 1
fi

work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/server" ./autobahn/server
listen=127.0.0.1:$port
if [ "$host" != 127.0.0.1 ]; then
	# The container reaches the host through a gateway address, not
	# through loopback.
	listen=0.0.0.0:$port
fi
"$work/server" -addr "$listen" &
server_pid=$!

# Wait for the server to listen (bounded: 30 s).
for _ in $(seq 300); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		break
	fi
	sleep 0.1
done

rm -rf autobahn/reports/servers
mkdir -p autobahn/reports
config=fuzzingclient.json
net=(--network host)
if [ "$host" != 127.0.0.1 ]; then
	sed "s#ws://127.0.0.1:$port#ws://$host:$port#" autobahn/fuzzingclient.json >autobahn/reports/fuzzingclient.json
	config=reports/fuzzingclient.json
	net=(--add-host=host.docker.internal:host-gateway)
fi

"$engine" run --rm "${net[@]}" \
	-v "$PWD/autobahn:/autobahn" -w /autobahn \
	"$image" wstest -m fuzzingclient -s "$config"

go run ./autobahn/check autobahn/reports/servers/index.json
