// Command registeragents is the load helper of hack/bench/master.sh, run
// against a mesosnet-sim and the mesosnet-masters following it:
//
//   - -count prints the tasks and named VIPs the masters must end up with
//     for the sim's current state ("tasks N vips M"): the sim's GET_STATE
//     through the leader's own code path (runtime/mesos/state, then
//     vipalloc.Wanted);
//   - -vip-tasks launches tasks carrying new named VIPs in the sim (control
//     API POST /sim/v1/tasks);
//   - -agents registers the first agents of the sim (operator API
//     GET_AGENTS) with the masters (POST /v1/agents), as their mesosnet
//     agents would at boot.
//
// Launches and registrations run with -concurrency requests in flight and
// print how many were done and how long they took.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/controllers/vipalloc"
	"github.com/mesosnet/mesosnet/runtime/api"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registeragents:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("registeragents", flag.ContinueOnError)
	sim := fs.String("sim", "http://127.0.0.1:5050", "mesosnet-sim URL")
	apiURLs := fs.String("api", "", "comma-separated mesosnet-master API URLs (with -agents)")
	tokenFile := fs.String("api-token-file", "", "file holding the cluster API bearer token")
	agents := fs.Int("agents", 0, "register this many of the sim's agents")
	vipTasks := fs.Int("vip-tasks", 0, "launch this many tasks with new named VIPs in the sim")
	vipsPerTask := fs.Int("vips-per-task", 1, "named VIPs per launched task (one port each)")
	framework := fs.String("framework", "marathon", "framework of the launched tasks")
	concurrency := fs.Int("concurrency", 32, "requests in flight")
	count := fs.Bool("count", false, "print the tasks and named VIPs of the sim's state and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *concurrency < 1 || *vipsPerTask < 1 {
		return errors.New("-concurrency and -vips-per-task must be positive")
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if *count {
		tasks, vips, err := expected(ctx, hc, *sim)
		if err != nil {
			return err
		}
		fmt.Printf("tasks %d vips %d\n", tasks, vips)
		return nil
	}
	if *vipTasks > 0 {
		start := time.Now()
		err := parallel(ctx, *vipTasks, *concurrency, func(ctx context.Context, i int) error {
			return launchVIPTask(ctx, hc, *sim, *framework, i, *vipsPerTask)
		})
		if err != nil {
			return err
		}
		n, per := *vipTasks, *vipsPerTask
		fmt.Printf("launched %d tasks with %d named VIPs in %.2f s\n", n, n*per, time.Since(start).Seconds())
	}
	if *agents > 0 {
		ips, err := simAgents(ctx, hc, *sim)
		if err != nil {
			return err
		}
		if len(ips) < *agents {
			return fmt.Errorf("the sim has %d agents with an IP hostname, want %d", len(ips), *agents)
		}
		token := ""
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("read api token: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		cl, err := api.NewClient(api.ClientOptions{URLs: strings.Split(*apiURLs, ","), Token: token, HTTPClient: hc})
		if err != nil {
			return err
		}
		var retries atomic.Int64
		start := time.Now()
		err = parallel(ctx, *agents, *concurrency, func(ctx context.Context, i int) error {
			return register(ctx, cl, ips[i], &retries)
		})
		if err != nil {
			return err
		}
		fmt.Printf("registered %d agents in %.2f s (%d retries)\n", *agents, time.Since(start).Seconds(), retries.Load())
	}
	return nil
}

// parallel runs f(0..n-1) with at most k calls at once and returns the
// first error.
func parallel(ctx context.Context, n, k int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, k) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// expected returns the number of tasks the sim publishes and of named VIPs
// they want addresses for, as the leading master computes them.
func expected(ctx context.Context, hc *http.Client, sim string) (tasks, vips int, err error) {
	body, err := post(ctx, hc, sim+"/api/v1", map[string]string{"type": "GET_STATE"}, http.StatusOK)
	if err != nil {
		return 0, 0, fmt.Errorf("get sim state: %w", err)
	}
	st := state.New(state.Options{})
	if err := st.LoadStateJSON(body, nil); err != nil {
		return 0, 0, err
	}
	snap := st.Current()
	if !snap.Ready() {
		return 0, 0, errors.New("the sim's state was not published at once (agents with unresolved hostnames?)")
	}
	return snap.TaskCount(), len(vipalloc.Wanted(snap.Tasks(), vipalloc.ServiceOptions{})), nil
}

// launchVIPTask launches task i with n ports, each with its own named VIP
// /bench/vip<i>-<port>:80 (host networking on the least busy agent).
func launchVIPTask(ctx context.Context, hc *http.Client, sim, framework string, i, n int) error {
	type port struct {
		Name     string            `json:"name"`
		Protocol string            `json:"protocol"`
		Labels   map[string]string `json:"labels"`
	}
	spec := struct {
		Name      string `json:"name"`
		Framework string `json:"framework"`
		Ports     []port `json:"ports"`
	}{Name: fmt.Sprintf("benchvip%d", i), Framework: framework}
	for p := range n {
		spec.Ports = append(spec.Ports, port{
			Name: fmt.Sprintf("p%d", p), Protocol: "tcp",
			Labels: map[string]string{"VIP_0": fmt.Sprintf("/bench/vip%d-%d:80", i, p)},
		})
	}
	_, err := post(ctx, hc, sim+"/sim/v1/tasks", spec, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("launch task %s: %w", spec.Name, err)
	}
	return nil
}

// simAgents returns the IPs of the sim's agents (their hostnames), in the
// sim's order.
func simAgents(ctx context.Context, hc *http.Client, sim string) ([]netip.Addr, error) {
	b, err := post(ctx, hc, sim+"/api/v1", map[string]string{"type": "GET_AGENTS"}, http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("get sim agents: %w", err)
	}
	var resp struct {
		GetAgents struct {
			Agents []struct {
				AgentInfo struct {
					Hostname string `json:"hostname"`
				} `json:"agent_info"`
			} `json:"agents"`
		} `json:"get_agents"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("decode sim agents: %w", err)
	}
	var ips []netip.Addr
	for _, a := range resp.GetAgents.Agents {
		if ip, err := netip.ParseAddr(a.AgentInfo.Hostname); err == nil {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// register registers ip, again after a 503 (no leader at the moment).
func register(ctx context.Context, cl *api.Client, ip netip.Addr, retries *atomic.Int64) error {
	for {
		err := cl.Do(ctx, http.MethodPost, "/v1/agents", v1.AgentRegistration{IP: ip, Hostname: ip.String()}, nil)
		var se *api.StatusError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil, errors.As(err, &se) && se.StatusCode < 500:
			return fmt.Errorf("register %s: %w", ip, err)
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func post(ctx context.Context, hc *http.Client, url string, body any, want int) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
