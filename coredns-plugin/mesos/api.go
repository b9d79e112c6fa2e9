package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin/pkg/reuseport"
	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/coredns-plugin/mesos/zone"
	"github.com/mesosnet/mesosnet/runtime/mesos"
)

// Version is reported by /v1/version; set at link time
// (-X github.com/mesosnet/mesosnet/coredns-plugin/mesos.Version=...).
var Version = "dev"

// apiVersion is the body of /v1/version (Mesos-DNS's shape).
type apiVersion struct {
	Service string
	URL     string
	Version string
}

// apiConfig is the body of /v1/config: Mesos-DNS's Config field names for
// what applies, never a secret (no token, password or key material, and no
// paths of secret files).
type apiConfig struct {
	Masters                []string
	RefreshSeconds         int
	TTL                    uint32
	SRVRecordDefaultWeight uint16
	Domain                 string
	Listener               []string
	HTTPListener           string
	DnsOn                  bool `json:"DnsOn"`
	HttpOn                 bool `json:"HttpOn"`
	ExternalOn             bool
	RecurseOn              bool
	EnumerationOn          bool
	SOAMname               string
	SOARname               string
	SOARefresh             uint32
	SOARetry               uint32
	SOAExpire              uint32
	SOAMinttl              uint32
	IPSources              []string
	EnforceRFC952          bool
	MesosHTTPSOn           bool
	CACertFile             string
	MesosAuthentication    string
	MesosCredentials       apiCredentials
	// mesosnet's own settings.
	IPMode          string
	OmitLegacyNames bool
	DCOS            bool
	DCOSTTL         uint32
	Zones           []string
	// Cluster are the cluster API URLs of the l4lb zone (never the
	// token), L4LBZones the zones it feeds.
	Cluster   []string `json:",omitempty"`
	L4LBZones []string `json:",omitempty"`
}

// apiCredentials shows the principal only, never the secret.
type apiCredentials struct {
	Principal string
}

// apiError is the body of an error answer.
type apiError struct {
	Error string `json:"error"`
}

// apiHandler returns the Mesos-DNS HTTP API served from the current zone.
func (m *Mesos) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, apiVersion{Service: "Mesos-DNS", URL: "https://github.com/mesosnet/mesosnet", Version: "mesosnet-" + Version})
	})
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.apiConfig())
	})
	mux.HandleFunc("GET /v1/hosts/{host}", m.withZone(func(w http.ResponseWriter, r *http.Request, z *zone.Zone) {
		writeJSON(w, http.StatusOK, z.Hosts(r.PathValue("host")))
	}))
	mux.HandleFunc("GET /v1/hosts/{host}/ports", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "To be implemented...", http.StatusNotImplemented)
	})
	mux.HandleFunc("GET /v1/services/{service}", m.withZone(func(w http.ResponseWriter, r *http.Request, z *zone.Zone) {
		writeJSON(w, http.StatusOK, z.Services(r.PathValue("service")))
	}))
	mux.HandleFunc("GET /v1/enumerate", m.withZone(func(w http.ResponseWriter, r *http.Request, z *zone.Zone) {
		writeJSON(w, http.StatusOK, z.Enumerate())
	}))
	mux.HandleFunc("GET /v1/axfr", m.withZone(func(w http.ResponseWriter, r *http.Request, z *zone.Zone) {
		writeJSON(w, http.StatusOK, z.AXFR())
	}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, detail := m.readiness()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, detail)
	})
	return mux
}

// withZone passes the current zone to h, or answers 503 before the first
// one.
func (m *Mesos) withZone(h func(http.ResponseWriter, *http.Request, *zone.Zone)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		z := m.zone.Load()
		if z == nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "no Mesos state loaded yet"})
			return
		}
		h(w, r, z)
	}
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// apiConfig returns the /v1/config body.
func (m *Mesos) apiConfig() apiConfig {
	zc := m.cfg.zone
	c := apiConfig{
		Masters:                m.cfg.masters,
		TTL:                    zc.TTL,
		SRVRecordDefaultWeight: zc.SRVWeight,
		Domain:                 zc.Domain,
		HTTPListener:           m.cfg.api,
		DnsOn:                  true,
		HttpOn:                 m.cfg.api != "",
		EnumerationOn:          true,
		SOAMname:               zc.SOA.MName,
		SOARname:               zc.SOA.RName,
		SOARefresh:             zc.SOA.Refresh,
		SOARetry:               zc.SOA.Retry,
		SOAExpire:              zc.SOA.Expire,
		SOAMinttl:              zc.TTL,
		IPSources:              zc.IPSources,
		EnforceRFC952:          zc.RFC952,
		CACertFile:             m.cfg.tls.CAFile,
		IPMode:                 string(zc.IPMode),
		OmitLegacyNames:        zc.OmitLegacyNames,
		DCOS:                   zc.DCOS,
		DCOSTTL:                zc.DCOSTTL,
		Zones:                  m.Zones,
		Cluster:                m.cfg.cluster,
		L4LBZones:              m.l4lbOrigins,
	}
	c.Listener = make([]string, len(zc.Listener))
	for i, ip := range zc.Listener {
		c.Listener[i] = ip.String()
	}
	for _, master := range m.cfg.masters {
		if strings.HasPrefix(master, "https://") || !strings.Contains(master, "://") && m.cfg.tls != (mesos.TLSConfig{}) {
			c.MesosHTTPSOn = true
		}
	}
	switch {
	case m.cfg.tokenFile != "":
		c.MesosAuthentication = "token"
	case m.cfg.user != "":
		c.MesosAuthentication = "basic"
		c.MesosCredentials.Principal = m.cfg.user
	}
	return c
}

// serveAPI starts the HTTP API on its listener. The socket is opened with
// SO_REUSEPORT, as CoreDNS's own listeners, so the instance of a reloaded
// Corefile can bind it while the old one still serves.
func (m *Mesos) serveAPI() (*http.Server, error) {
	ln, err := reuseport.Listen("tcp", m.cfg.api)
	if err != nil {
		return nil, m.cfg.startErrAt(m.cfg.lines["api"], "api: listen: %v", err)
	}
	m.apiAddr.Store(ln.Addr().String())
	srv := &http.Server{
		Handler:           m.apiHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			m.log.Error("Stopped serving the HTTP API", zap.String("listen", m.cfg.api), zap.Error(err))
		}
	}()
	return srv, nil
}
