// Package autobahn holds lariat's conformance suite: `go test ./autobahn/...`
// runs, over loopback and without Docker, the case families of the Autobahn
// testsuite's fuzzingclient (crossbario/autobahn-testsuite) against the
// very server that the real fuzzingclient targets, echoserver.
//
// The subdirectories hold that server (echoserver, and the command server
// that listens with it), the configuration and script to run the real
// fuzzingclient (fuzzingclient.json, run.sh), and the command check, which
// fails unless every case of a fuzzingclient report is OK. README.md says
// how to run each, and what each case family checks.
package autobahn
