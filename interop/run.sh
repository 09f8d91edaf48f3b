#!/usr/bin/env bash
# Runs real WebSocket clients against lariat: Node's ws, Python's websockets,
# headless Chromium and a hixie-76/75 client of our own in plain Node (see
# interop/README.md). First installs, from
# Debian's packages and the npm registry, whatever of them is missing; it
# never downloads a browser.
#
#   interop/run.sh                 # everything
#   interop/run.sh -run Chromium -v   # arguments go to go test
#
# Environment: LARIAT_CHROMIUM (default /usr/bin/chromium) and
# LARIAT_PYTHON (default: Debian's /usr/bin/python3, else python3 on PATH)
# choose the binaries; the Go test reads them too.
set -euo pipefail

cd "$(dirname "$0")/.."

say() { echo "interop/run.sh: $*" >&2; }

# A Python 3 that can import websockets, looked for as the Go test does.
python_ok() {
	local p
	for p in "${LARIAT_PYTHON:-}" /usr/bin/python3 "$(command -v python3 || true)"; do
		if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import websockets' 2>/dev/null; then
			return 0
		fi
	done
	return 1
}

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x "${LARIAT_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
python_ok || missing+=(python3-websockets)

if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]} with apt-get"
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { say "need root or sudo to install ${missing[*]}"; exit 1; }
		sudo=sudo
	fi
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Exactly what package-lock.json pins. No package here has an install
# script, and --ignore-scripts keeps it so: nothing may fetch a browser.
say "npm ci in interop/node"
(cd interop/node && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

say "go test -tags interop ./interop/... $*"
exec go test -tags interop -count=1 "$@" ./interop/...
