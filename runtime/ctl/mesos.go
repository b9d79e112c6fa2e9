package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	v1 "github.com/mesosnet/mesosnet/apis/v1"
	"github.com/mesosnet/mesosnet/runtime/mesos"
	"github.com/mesosnet/mesosnet/runtime/mesos/state"
)

// mesosFlags are the connection flags shared by the `mesos` commands.
type mesosFlags struct {
	masters                   string
	tokenFile, user, passFile string
	caFile, certFile, keyFile string
	timeout                   time.Duration
}

// EnvMasters names the environment variable holding the default --masters.
const EnvMasters = "MESOSNET_MESOS_MASTERS"

func addMesosFlags(fs *flag.FlagSet) *mesosFlags {
	f := &mesosFlags{}
	def := os.Getenv(EnvMasters)
	if def == "" {
		def = "http://127.0.0.1:5050"
	}
	fs.StringVar(&f.masters, "masters", def, "comma-separated Mesos master URLs (default from $"+EnvMasters+")")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a token sent as `Authorization: token=<token>`")
	fs.StringVar(&f.user, "user", "", "HTTP basic auth user (password from --password-file)")
	fs.StringVar(&f.passFile, "password-file", "", "file holding the HTTP basic auth password")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA bundle for https masters")
	fs.StringVar(&f.certFile, "cert-file", "", "PEM client certificate")
	fs.StringVar(&f.keyFile, "key-file", "", "PEM client key")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of one call")
	return f
}

// readSecret returns the trimmed content of a secret file, "" for no file.
func readSecret(flagName, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *mesosFlags) client(log *zap.Logger) (*mesos.Client, error) {
	token, err := readSecret("token-file", f.tokenFile)
	if err != nil {
		return nil, err
	}
	pass, err := readSecret("password-file", f.passFile)
	if err != nil {
		return nil, err
	}
	var masters []string
	for _, m := range strings.Split(f.masters, ",") {
		if m = strings.TrimSpace(m); m != "" {
			masters = append(masters, m)
		}
	}
	return mesos.NewClient(mesos.Config{
		Masters: masters,
		Auth:    mesos.Auth{Token: token, Username: f.user, Password: pass},
		TLS:     mesos.TLSConfig{CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile},
		Timeout: f.timeout,
		Version: Version,
		Logger:  log,
	})
}

// loadState fetches GET_MASTER and GET_STATE once into a fresh store.
func loadState(ctx context.Context, c *mesos.Client) (*state.Snapshot, error) {
	leader, err := c.GetMaster(ctx)
	if err != nil {
		return nil, err
	}
	gs, err := c.GetState(ctx)
	if err != nil {
		return nil, err
	}
	st := state.New(state.Options{RecoveredAgentsWait: -1})
	if err := st.LoadState(gs, leader.MasterInfo); err != nil {
		return nil, fmt.Errorf("load Mesos state: %w", err)
	}
	return st.Current(), nil
}

func runMesosLeader(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("mesos leader", env)
	mf, out := addMesosFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := mf.client(nil)
	if err != nil {
		return err
	}
	r, err := c.GetMaster(ctx)
	if err != nil {
		return err
	}
	m := state.MasterFromInfo(r.MasterInfo)
	return out.write(env.Stdout, m, []string{"ID", "HOSTNAME", "IP", "PORT", "URL"},
		[][]string{{m.ID, m.Hostname, addr(m.IP), strconv.Itoa(int(m.Port)), c.Leader()}})
}

func runMesosAgents(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("mesos agents", env)
	mf, out := addMesosFlags(fs), outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := mf.client(nil)
	if err != nil {
		return err
	}
	snap, err := loadState(ctx, c)
	if err != nil {
		return err
	}
	agents := snap.Agents()
	rows := make([][]string, 0, len(agents))
	for _, a := range agents {
		rows = append(rows, []string{a.ID, a.Hostname, addr(a.IP), strconv.Itoa(int(a.Port))})
	}
	return out.write(env.Stdout, agents, []string{"ID", "HOSTNAME", "IP", "PORT"}, rows)
}

func runMesosTasks(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("mesos tasks", env)
	mf, out := addMesosFlags(fs), outputFlag(fs)
	watch := fs.Bool("watch", false, "follow the SUBSCRIBE stream and print every task change")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := mf.client(nil)
	if err != nil {
		return err
	}
	if *watch {
		return watchTasks(ctx, env, c, *out)
	}
	snap, err := loadState(ctx, c)
	if err != nil {
		return err
	}
	tasks := snap.Tasks()
	rows := make([][]string, 0, len(tasks))
	for _, t := range tasks {
		rows = append(rows, taskRow(t))
	}
	return out.write(env.Stdout, tasks, taskHeader, rows)
}

var taskHeader = []string{"FRAMEWORK", "NAME", "STATE", "HEALTH", "AGENT", "IPS", "PORTS", "TASK ID"}

func taskRow(t v1.Task) []string {
	ips := make([]string, len(t.IPs))
	for i, a := range t.IPs {
		ips[i] = a.String()
	}
	ports := make([]string, len(t.Ports))
	for i, p := range t.Ports {
		s := fmt.Sprintf("%s/%d", p.Protocol, p.Port)
		if p.HostPort != 0 {
			s = fmt.Sprintf("%s/%d:%d", p.Protocol, p.HostPort, p.Port)
		}
		for _, v := range p.VIPs {
			s += " vip=" + v.Label
		}
		ports[i] = s
	}
	health := string(t.Health)
	if health == "" {
		health = "-"
	}
	return []string{t.Framework, t.Name, t.MesosState, health, addr(t.AgentIP), strings.Join(ips, ","), strings.Join(ports, ","), t.Key.TaskID}
}

func addr(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

// taskEvent is one line of `mesos tasks --watch -o json`.
type taskEvent struct {
	Event string     `json:"event"`
	Task  *v1.Task   `json:"task,omitempty"`
	Key   v1.TaskKey `json:"key"`
}

// watchTasks subscribes and prints ADDED / MODIFIED / DELETED per task
// change until ctx ends.
func watchTasks(ctx context.Context, env *Env, c *mesos.Client, out output) error {
	st := state.New(state.Options{})
	sub := st.Subscribe()
	defer st.Unsubscribe(sub)
	src := mesos.NewSource(c, st, mesos.SourceOptions{})
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx) }()

	prev := (*state.Snapshot)(nil)
	printHeader := out == "table"
	emit := func(ev string, key v1.TaskKey, t *v1.Task) error {
		if out == "json" {
			return out.write(env.Stdout, taskEvent{Event: ev, Task: t, Key: key}, nil, nil)
		}
		row := []string{ev}
		if t != nil {
			row = append(row, taskRow(*t)...)
		} else {
			row = append(row, "", "", "", "", "", "", "", key.TaskID)
		}
		var header []string
		if printHeader {
			header, printHeader = append([]string{"EVENT"}, taskHeader...), false
			return out.write(env.Stdout, nil, header, [][]string{row})
		}
		_, err := fmt.Fprintln(env.Stdout, strings.Join(row, "  "))
		return err
	}
	for {
		select {
		case err := <-errc:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case n := <-sub.C():
			keys := n.Changed
			if n.Reset || prev == nil {
				keys = changedKeys(prev, n.Snapshot)
			}
			for _, k := range keys {
				var old, cur *v1.Task
				if prev != nil {
					if t, ok := prev.Task(k); ok {
						old = &t
					}
				}
				if t, ok := n.Snapshot.Task(k); ok {
					cur = &t
				}
				ev := "MODIFIED"
				switch {
				case old == nil && cur == nil:
					continue
				case old == nil:
					ev = "ADDED"
				case cur == nil:
					ev = "DELETED"
				}
				if err := emit(ev, k, cur); err != nil {
					return err
				}
			}
			prev = n.Snapshot
		}
	}
}

// changedKeys lists every key present in either snapshot.
func changedKeys(a, b *state.Snapshot) []v1.TaskKey {
	seen := map[v1.TaskKey]bool{}
	var keys []v1.TaskKey
	for _, s := range []*state.Snapshot{a, b} {
		if s == nil {
			continue
		}
		for _, t := range s.Tasks() {
			if !seen[t.Key] {
				seen[t.Key] = true
				keys = append(keys, t.Key)
			}
		}
	}
	return keys
}
