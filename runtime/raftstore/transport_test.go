package raftstore_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/mesosnet/mesosnet/runtime/raftstore"
	"github.com/mesosnet/mesosnet/runtime/raftstore/raftstoretest"
)

// echoServer answers one line per connection on the stream layer.
func echoServer(t *testing.T, s *raftstore.StreamLayer) {
	go func() {
		for {
			conn, err := s.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err == nil {
					_, _ = conn.Write([]byte("echo " + line))
				}
			}()
		}
	}()
}

func TestStreamLayer(t *testing.T) {
	certs := raftstoretest.NewTLSConfigs(t)
	noCert := certs.Client.Clone()
	noCert.Certificates = nil
	tests := []struct {
		name              string
		server, client    *tls.Config
		wantDialErr, want bool
	}{
		{name: "plain TCP", want: true},
		{name: "mutual TLS", server: certs.Server, client: certs.Client, want: true},
		{name: "client without a certificate", server: certs.Server, client: noCert},
		{name: "plain client to a TLS server", server: certs.Server},
		{name: "TLS client to a plain server", client: certs.Client, wantDialErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			server := raftstore.NewStreamLayer(ln, nil, tt.server, nil)
			defer server.Close()
			echoServer(t, server)
			client := raftstore.NewStreamLayer(mustListen(t), nil, nil, tt.client)
			defer client.Close()

			conn, err := client.Dial(raft.ServerAddress(server.Addr().String()), 5*time.Second)
			if tt.wantDialErr {
				if err == nil {
					conn.Close()
					t.Fatal("Dial succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, werr := conn.Write([]byte("ping\n"))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			got := werr == nil && rerr == nil && line == "echo ping\n"
			if got != tt.want {
				t.Errorf("round trip ok = %v (%q, write %v, read %v), want %v", got, line, werr, rerr, tt.want)
			}
		})
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
