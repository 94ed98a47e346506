// faultsrv: hostile scrape targets for leakprofd's collector tests, one behaviour per path on one port: a
// target that never answers, streams 1 GiB, sends garbage, fails, stalls mid-body, answers HTML, or serves a
// gzip bomb, next to a well-behaved profile endpoint. See tests/go/README.md.
package main

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
)

const (
	hugeBytes    = 1 << 30  // /huge
	garbageBytes = 64 << 10 // /garbage
	bombBytes    = 5 << 28  // what /gzipbomb inflates to (1.25 GiB)
	chunkBytes   = 64 << 10 // write size of the streams
	bombChunk    = 1 << 20  // zeros per write into the compressor
	htmlPage     = `<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><h1>502 Bad Gateway</h1><p>The upstream server is temporarily unavailable. Please try again later.</p>
<hr><address>nginx</address></body></html>
`
)

var (
	bombOnce sync.Once
	bomb     []byte
)

// gzipBomb: one gzip member holding bombBytes zeros (about 1.2 MiB), built once on first use.
//
// Compressing 1.25 GiB takes seconds of CPU, too long on a busy machine before the first request. Once the
// window holds only zeros, every further MiB of zeros compresses to the same bytes after a flush, so the
// stream is one such block repeated: the first MiB, the repeated block, the final empty block, then the
// CRC-32 and length of the whole.
func gzipBomb() []byte {
	bombOnce.Do(func() {
		var raw bytes.Buffer
		zeros := make([]byte, bombChunk)
		fw, _ := flate.NewWriter(&raw, flate.BestCompression)
		block := func() []byte {
			n := raw.Len()
			fw.Write(zeros)
			fw.Flush()
			return append([]byte(nil), raw.Bytes()[n:]...)
		}
		first := block()
		second := block()
		if third := block(); !bytes.Equal(second, third) {
			panic("faultsrv: repeated zero blocks compress differently")
		}
		n := raw.Len()
		fw.Close()
		final := append([]byte(nil), raw.Bytes()[n:]...)

		crc := uint32(0)
		var buf bytes.Buffer
		buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255}) // gzip, deflate, no name, max compression
		buf.Write(first)
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
		for done := bombChunk; done < bombBytes; done += bombChunk {
			buf.Write(second)
			crc = crc32.Update(crc, crc32.IEEETable, zeros)
		}
		buf.Write(final)
		var tail [8]byte
		binary.LittleEndian.PutUint32(tail[0:], crc)
		binary.LittleEndian.PutUint32(tail[4:], uint32(bombBytes))
		buf.Write(tail[:])
		bomb = buf.Bytes()
	})
	return bomb
}

// plausibleChunk: whole debug=1 profile records (about 64 KiB), repeated after one header line to fill the
// huge stream, so the text stays valid until the stream is cut at its exact length.
func plausibleChunk() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < chunkBytes; i++ {
		fmt.Fprintf(&b, "%d @ 0x439976 0x40657b 0x4060b8 0x%x 0x4697a1\n", 1+i%7, 0x6b2dc5+i*16)
		fmt.Fprintf(&b, "#\t0x%x\tmain.worker%d+0x84\t/src/app/worker%d.go:%d\n\n", 0x6b2dc4+i*16, i, i%13,
			10+i%400)
	}
	return b.Bytes()
}

func stream(w http.ResponseWriter, total int) {
	header := []byte("goroutine profile: total 1000000000\n")
	if _, err := w.Write(header); err != nil {
		return
	}
	chunk := plausibleChunk()
	for sent := len(header); sent < total; {
		n := total - sent
		if n > len(chunk) {
			n = len(chunk)
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		sent += n
	}
}

func ownProfile(debug int) []byte {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, debug)
	return b.Bytes()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	profile := flag.String("profile", "", "serve this file at /ok/debug/pprof/goroutine")
	flag.Parse()
	var profileBytes []byte
	if *profile != "" {
		b, err := os.ReadFile(*profile)
		if err != nil {
			fatal(err)
		}
		profileBytes = b
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		stream(w, hugeBytes)
	})
	mux.HandleFunc("/huge-length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(hugeBytes))
		stream(w, hugeBytes)
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, garbageBytes)
		rand.Read(b)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal server error", http.StatusInternalServerError)
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		body := ownProfile(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, htmlPage)
	})
	mux.HandleFunc("/gzipbomb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(gzipBomb())
	})
	mux.HandleFunc("/gzipbomb-encoded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipBomb())
	})
	mux.HandleFunc("/ok/debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
		if profileBytes != nil {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(profileBytes)
			return
		}
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if debug == 0 {
			w.Header().Set("Content-Type", "application/octet-stream")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.Write(ownProfile(debug))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal(err)
	}
	go gzipBomb() // build it ahead of the first request
	if *portfile != "" {
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if err := writeFileAtomic(*portfile, []byte(port+"\n")); err != nil {
			fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "faultsrv: listening on %s (pid %d)\n", ln.Addr(), os.Getpid())
	fatal(http.Serve(ln, mux))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "faultsrv: %v\n", err)
	os.Exit(2)
}
