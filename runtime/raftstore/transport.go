package raftstore

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// StreamLayer is the raft transport's connection layer over a TCP listener,
// optionally with TLS in both directions. Use it with
// raft.NewNetworkTransportWithConfig; Store does when Config.RaftListener or
// TLS is set.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	clientTLS *tls.Config
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer returns a stream layer accepting on ln. serverTLS, when not
// nil, wraps accepted connections (set ClientAuth and ClientCAs for mutual
// TLS between masters); clientTLS, when not nil, is used to dial peers (set
// RootCAs and Certificates; an empty ServerName is taken from the peer's
// host). advertise is the address peers dial; nil means ln.Addr().
func NewStreamLayer(ln net.Listener, advertise net.Addr, serverTLS, clientTLS *tls.Config) *StreamLayer {
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &StreamLayer{ln: ln, advertise: advertise, clientTLS: clientTLS}
}

// Accept waits for the next connection from a peer. A TLS handshake runs on
// the connection's first read, in the transport's per-connection goroutine,
// so a slow or hostile client cannot hold up the accept loop.
func (s *StreamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }

// Close closes the listener.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer, completing the TLS handshake within timeout.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if s.clientTLS == nil {
		conn, err := d.Dial("tcp", string(address))
		if err != nil {
			return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
		}
		return conn, nil
	}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), s.clientTLS)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s over TLS: %w", address, err)
	}
	return conn, nil
}
