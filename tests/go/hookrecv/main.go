// hookrecv: a webhook receiver for leakprofd's alerting tests. It appends one JSON line per delivery (headers,
// body, whether the HMAC signature verified) to -out, and can fail, answer slowly or answer any status, so the
// tests can take it down, bring it back and check that every notification arrived once. See tests/go/README.md.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type delivery struct {
	Time        string            `json:"time"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Headers     map[string]string `json:"headers"`
	Body        interface{}       `json:"body"`
	SignatureOK *bool             `json:"signature_ok"`
	Status      int               `json:"status"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	out := flag.String("out", "", "append one JSON line per delivery to this file (required)")
	secretFile := flag.String("secret-file", "", "verify X-Leakprofd-Signature with the key in this file")
	failFirst := flag.Int("fail-first", 0, "answer 500 to the first N requests")
	delay := flag.Duration("delay", 0, "sleep this long before answering")
	status := flag.Int("status", 200, "HTTP status of the answer")
	flag.Parse()
	if *out == "" {
		fatal(fmt.Errorf("-out FILE is required"))
	}
	if *status < 100 || *status > 999 {
		fatal(fmt.Errorf("-status %d: not an HTTP status", *status))
	}
	var key []byte
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			fatal(err)
		}
		key = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fatal(err)
	}

	var mu sync.Mutex
	seen := 0
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		d := delivery{Time: time.Now().UTC().Format(time.RFC3339Nano), Method: r.Method, Path: r.URL.Path,
			Headers: map[string]string{}}
		for k, v := range r.Header {
			d.Headers[k] = v[0]
		}
		d.Headers["Host"] = r.Host
		// Numbers stay as written (UseNumber), so large event ids survive the round trip.
		var parsed interface{}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&parsed) == nil && !dec.More() {
			d.Body = parsed
		} else {
			d.Body = string(body)
		}
		if key != nil {
			mac := hmac.New(sha256.New, key)
			mac.Write(body)
			want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
			ok := hmac.Equal([]byte(r.Header.Get("X-Leakprofd-Signature")), []byte(want))
			d.SignatureOK = &ok
		}
		mu.Lock()
		seen++
		d.Status = *status
		if seen <= *failFirst {
			d.Status = http.StatusInternalServerError
		}
		line, _ := json.Marshal(d)
		_, werr := f.Write(append(line, '\n'))
		mu.Unlock()
		if werr != nil {
			fmt.Fprintf(os.Stderr, "hookrecv: writing %s: %v\n", *out, werr)
		}
		if *delay > 0 {
			select {
			case <-time.After(*delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(d.Status)
		fmt.Fprintf(w, "hookrecv: %d\n", d.Status)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal(err)
	}
	if *portfile != "" {
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if err := writeFileAtomic(*portfile, []byte(port+"\n")); err != nil {
			fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "hookrecv: listening on %s (pid %d)\n", ln.Addr(), os.Getpid())
	fatal(http.Serve(ln, nil))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "hookrecv: %v\n", err)
	os.Exit(2)
}
