// connectproxy is the small HTTP proxy the end-to-end tests run on the host, standing in
// for a company's proxy: it tunnels CONNECT requests, forwards plain HTTP ones, and logs
// one line per request ("CONNECT host:port" or "GET http://..."), so a test can tell
// what went through it. With -version it prints a line and exits: the tests also use
// this static binary as a tiny image's only program.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:0", "address to listen on")
	logPath := flag.String("log", "", "file the request lines go to (default standard output)")
	version := flag.Bool("version", false, "print a line and exit")
	flag.Parse()
	if *version {
		fmt.Println("connectproxy ok")
		return
	}
	out := io.Writer(os.Stdout)
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", l.Addr())
	p := &proxy{log: out}
	log.Fatal(http.Serve(l, p))
}

type proxy struct {
	mu  sync.Mutex
	log io.Writer
}

func (p *proxy) record(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := r.URL.String()
	if r.Method == http.MethodConnect {
		target = r.Host
	}
	fmt.Fprintf(p.log, "%s %s\n", r.Method, target)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.record(r)
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "connectproxy: a proxy request needs an absolute URL", http.StatusBadRequest)
		return
	}
	r.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	upstream, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		if buf.Reader.Buffered() > 0 {
			io.CopyN(upstream, buf, int64(buf.Reader.Buffered()))
		}
		io.Copy(upstream, client)
		upstream.Close()
	}()
	io.Copy(client, upstream)
	client.Close()
}
