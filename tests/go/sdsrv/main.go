// sdsrv: a Prometheus http_sd endpoint for leakprofd's discovery tests. It serves the current
// content of a file the test rewrites, so the test decides what the next refresh sees: a new list,
// junk, or (through FILE.status) an HTTP error. See tests/go/README.md.
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	portfile := flag.String("portfile", "", "write the bound port here once listening")
	file := flag.String("file", "", "the answer's body, read at every request")
	ctype := flag.String("content-type", "application/json", "the answer's Content-Type")
	bearerFile := flag.String("bearer-file", "", "require 'Authorization: Bearer <this file's content>'")
	flag.Parse()
	if *file == "" {
		fmt.Fprintln(os.Stderr, "sdsrv: -file is required")
		os.Exit(2)
	}
	var requests int64
	http.HandleFunc("/sd", func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&requests, 1)
		if *bearerFile != "" {
			tok, err := ioutil.ReadFile(*bearerFile)
			if err != nil || r.Header.Get("Authorization") != "Bearer "+strings.TrimSpace(string(tok)) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		status := http.StatusOK
		if b, err := ioutil.ReadFile(*file + ".status"); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				status = n
			}
		}
		body, err := ioutil.ReadFile(*file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", *ctype)
		w.WriteHeader(status)
		w.Write(body)
	})
	http.HandleFunc("/requests", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", atomic.LoadInt64(&requests))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdsrv:", err)
		os.Exit(1)
	}
	if *portfile != "" {
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ioutil.WriteFile(*portfile+".tmp", []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "sdsrv:", err)
			os.Exit(1)
		}
		if err := os.Rename(*portfile+".tmp", *portfile); err != nil {
			fmt.Fprintln(os.Stderr, "sdsrv:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintln(os.Stderr, http.Serve(ln, nil))
	os.Exit(1)
}
