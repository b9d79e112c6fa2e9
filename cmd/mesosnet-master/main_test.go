package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/subnetalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
)

// childEnv makes the test binary run mesosnet-master's main with the
// arguments after "--": the processes of TestKillLeaderProcess.
const childEnv = "MESOSNET_MASTER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Args = append([]string{"mesosnet-master"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is one mesosnet-master child process.
type process struct {
	id, raft, api, dir string
	cmd                *exec.Cmd
	exited             chan struct{}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKillLeaderProcess runs three real mesosnet-master processes (raft on
// disk with fsync, loopback TCP), registers agents through all of them and
// SIGKILLs the leader ten times, restarting it each time. Every
// allocation a client was answered must survive the crashes unchanged,
// and no address or subnet may be handed out twice.
func TestKillLeaderProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	const kills = 10
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("kill-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := make([]*process, 3)
	var peers []string
	for i := range procs {
		p := &process{id: fmt.Sprintf("m%d", i+1), raft: freePort(t), api: freePort(t), dir: filepath.Join(dir, fmt.Sprintf("m%d", i+1))}
		procs[i] = p
		peers = append(peers, "--peer", p.id+","+p.raft+","+p.api)
	}
	start := func(p *process) {
		t.Helper()
		args := append([]string{"-test.run=^$", "--", "--id", p.id, "--data-dir", p.dir,
			"--raft-listen", p.raft, "--api-listen", p.api, "--token-file", token,
			"--raft-heartbeat-timeout", "300ms", "--raft-election-timeout", "300ms",
			"--overlay-config", filepath.Join("..", "..", "hack", "testplan-overlay.json"),
			"--log-level", "warn"}, peers...)
		p.cmd = exec.Command(os.Args[0], args...)
		p.cmd.Env = append(os.Environ(), childEnv+"=1")
		logf, err := os.Create(filepath.Join(dir, p.id+".log"))
		if err != nil {
			t.Fatal(err)
		}
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.exited = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}, f *os.File) {
			_ = cmd.Wait()
			f.Close()
			close(done)
		}(p.cmd, p.exited, logf)
	}
	kill := func(p *process) {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	for _, p := range procs {
		start(p)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			kill(p)
		}
		if t.Failed() {
			for _, p := range procs {
				if b, err := os.ReadFile(filepath.Join(dir, p.id+".log")); err == nil {
					t.Logf("%s log:\n%s", p.id, b)
				}
			}
		}
	})
	var urls []string
	for _, p := range procs {
		urls = append(urls, "http://"+p.api)
	}
	client, err := api.NewClient(api.ClientOptions{URLs: urls, Token: "kill-test-token", HTTPClient: &http.Client{Timeout: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	leader := func() *process {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var st struct {
				Leader struct {
					ID string `json:"id"`
				} `json:"leader"`
			}
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			err := client.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
			cancel()
			if err == nil {
				for _, p := range procs {
					if p.id == st.Leader.ID {
						return p
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no leader within 30s")
		return nil
	}

	var (
		mu    sync.Mutex
		given = map[netip.Addr]v1.AgentRecord{}
		next  = 0
	)
	// registerSome registers n new agents, each until answered.
	registerSome := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		for range n {
			mu.Lock()
			next++
			ip := netip.AddrFrom4([4]byte{198, 18, 64 + byte(next>>8), byte(next)})
			mu.Unlock()
			wg.Go(func() {
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					var rec v1.AgentRecord
					ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
					err := client.Do(ctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: ip}, &rec)
					cancel()
					if err == nil {
						mu.Lock()
						given[ip] = rec
						mu.Unlock()
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				t.Errorf("agent %s: never answered", ip)
			})
		}
		wg.Wait()
	}

	registerSome(20)
	for k := range kills {
		l := leader()
		// Registrations in flight while the leader dies.
		done := make(chan struct{})
		go func() { registerSome(10); close(done) }()
		time.Sleep(time.Duration(k*7) * time.Millisecond)
		kill(l)
		<-done
		start(l)
		registerSome(5)
	}
	if t.Failed() {
		return
	}

	var held []v1.AgentRecord
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := client.Do(ctx, http.MethodGet, "/v1/agents?consistent", nil, &held); err != nil {
		t.Fatalf("GET /v1/agents: %v", err)
	}
	byIP := map[netip.Addr]v1.AgentRecord{}
	var allocs []v1.AgentAllocation
	for _, r := range held {
		byIP[r.AgentIP] = r
		allocs = append(allocs, r.AgentAllocation)
	}
	if err := subnetalloc.Check(allocs); err != nil {
		t.Errorf("allocations overlap after %d leader crashes: %v", kills, err)
	}
	for ip, rec := range given {
		h, ok := byIP[ip]
		if !ok {
			t.Errorf("agent %s was answered an allocation that a crash lost", ip)
			continue
		}
		a, _ := json.Marshal(rec.AgentAllocation)
		b, _ := json.Marshal(h.AgentAllocation)
		if string(a) != string(b) {
			t.Errorf("agent %s: answered %s, held %s", ip, a, b)
		}
	}
	t.Logf("%d leader crashes: %d agents answered, %d held", kills, len(given), len(held))
}
