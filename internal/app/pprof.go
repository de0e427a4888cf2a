package app

import (
	"net/http"
	"net/http/pprof"
)

// PprofHandler serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/. It is for a separate, private listener
// (BECKON_PPROF_ADDR), never the public one: profiles show the program's
// internals and a CPU profile costs the node while it runs.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
