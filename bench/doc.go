// Package bench compares lariat's server side with the Go WebSocket
// libraries people choose instead of it: gorilla/websocket,
// coder/websocket, gobwas/ws and lxzan/gws.
//
// It is a module of its own, so that the peers never become dependencies
// of lariat. The package holds what the benchmarks share: one server per
// library, written the way a careful user of that library would write it
// (servers.go), a client that is the same for all of them (client.go),
// and an in-memory connection for measuring read paths without a network
// (memconn.go). The benchmarks over loopback TCP run their clients in a
// process of their own (the test binary, started again in another role),
// so that the CPU time and memory they measure are the server's. The benchmarks are in the _test files; cmd/report runs
// them and writes README.md.
package bench
