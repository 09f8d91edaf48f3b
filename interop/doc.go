// Package interop runs real WebSocket clients against lariat: Node's ws,
// Python's websockets, headless Chromium (driven by playwright-core) and a
// hixie-76/hixie-75 client written here from the drafts, against servers
// the test starts in-process on 127.0.0.1.
//
// The tests carry the build tag interop, so that a plain go test ./...
// needs nothing but Go:
//
//	interop/run.sh                       # installs what is missing, then runs them
//	go test -tags interop ./interop/...  # when the clients are installed
//
// See README.md for what each client checks.
package interop
