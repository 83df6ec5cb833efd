package whalewatcher

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Engines for the tests come from the environment; tests needing one skip
// without it:
//
//	WW_TEST_DOCKER_ENDPOINT      e.g. unix:///tmp/wwgo-d/docker.sock (with busybox:local)
//	WW_TEST_CONTAINERD_ENDPOINT  e.g. /tmp/wwgo-c/containerd.sock (busybox:local imported
//	                             into "default" and WW_TEST_CONTAINERD_NAMESPACE)
//	WW_TEST_CONTAINERD_NAMESPACE default "wwtest"
//	WW_TEST_CTR_FIFO_DIR         ctr --fifo-dir, default a temporary directory
//	WW_TEST_PODMAN_ENDPOINT      e.g. unix:///tmp/wwgo-p/podman.sock (a podman API service
//	                             with localhost/busybox:local), and of a container
//	                             running there WW_TEST_PODMAN_ID and WW_TEST_PODMAN_PID
//	WW_TEST_CRI_ENDPOINT         e.g. unix:///tmp/wwgo-cri/containerd.sock (a CRI runtime)
//	                             running a pod WW_TEST_CRI_POD ("NAME/NAMESPACE/UID"),
//	                             its sandbox WW_TEST_CRI_SANDBOX_ID and _PID, and its
//	                             container "app" WW_TEST_CRI_CONTAINER_ID and _PID
//
// The docker, ctr and podman CLIs must be on PATH. Tests of discovery and of
// Auto watchers look at the whole host: they need the Docker, containerd
// and podman engines above, and run as root (they put a socket under
// /run/user).

const waitFor = 20 * time.Second // for a change to show in the portfolio

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &cmdError{cmd: name + " " + strings.Join(args, " "), err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// childEnv is the environment without GODEBUG: the tests may run with
// GODEBUG=cgocheck=2, which the docker and ctr CLIs (Go programs built with
// a newer Go) refuse to start with.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	return env
}

type cmdError struct {
	cmd, stderr string
	err         error
}

func (e *cmdError) Error() string { return e.cmd + ": " + e.err.Error() + ": " + e.stderr }

// --- Docker ------------------------------------------------------------------

type dockerEngine struct {
	t        *testing.T
	endpoint string
}

func needDocker(t *testing.T) *dockerEngine {
	t.Helper()
	ep := os.Getenv("WW_TEST_DOCKER_ENDPOINT")
	if ep == "" {
		t.Skip("WW_TEST_DOCKER_ENDPOINT not set")
	}
	return &dockerEngine{t: t, endpoint: ep}
}

func (d *dockerEngine) try(args ...string) (string, error) {
	d.t.Helper()
	return run(d.t, "docker", append([]string{"-H", d.endpoint}, args...)...)
}

func (d *dockerEngine) docker(args ...string) string {
	d.t.Helper()
	out, err := d.try(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// run starts a sleeping busybox container, removed at the end of the test,
// and returns its full ID.
func (d *dockerEngine) run(name string, labels map[string]string) string {
	d.t.Helper()
	args := []string{"run", "-d", "--network", "none", "--name", name}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	args = append(args, "busybox:local", "/bin/sleep", "100000")
	d.t.Cleanup(func() { _, _ = d.try("rm", "-f", name) })
	return d.docker(args...)
}

func (d *dockerEngine) pid(nameorid string) int {
	d.t.Helper()
	pid, err := strconv.Atoi(d.docker("inspect", "-f", "{{.State.Pid}}", nameorid))
	if err != nil {
		d.t.Fatal(err)
	}
	return pid
}

// imageID is the image ID of container nameorid, as docker reports it.
func (d *dockerEngine) imageID(nameorid string) string {
	d.t.Helper()
	return d.docker("inspect", "-f", "{{.Image}}", nameorid)
}

// startedAt is when container nameorid started, as docker reports it.
func (d *dockerEngine) startedAt(nameorid string) time.Time {
	d.t.Helper()
	at, err := time.Parse(time.RFC3339Nano, d.docker("inspect", "-f", "{{.State.StartedAt}}", nameorid))
	if err != nil {
		d.t.Fatal(err)
	}
	return at
}

func (d *dockerEngine) watcher(opts Options) *Watcher {
	d.t.Helper()
	opts.Engine = Docker
	opts.Endpoint = d.endpoint
	return readyWatcher(d.t, opts)
}

// --- containerd --------------------------------------------------------------

type containerdEngine struct {
	t         *testing.T
	socket    string
	namespace string
	fifos     string
}

func needContainerd(t *testing.T) *containerdEngine {
	t.Helper()
	sock := os.Getenv("WW_TEST_CONTAINERD_ENDPOINT")
	if sock == "" {
		t.Skip("WW_TEST_CONTAINERD_ENDPOINT not set")
	}
	sock = strings.TrimPrefix(sock, "unix://")
	ns := os.Getenv("WW_TEST_CONTAINERD_NAMESPACE")
	if ns == "" {
		ns = "wwtest"
	}
	fifos := os.Getenv("WW_TEST_CTR_FIFO_DIR")
	if fifos == "" {
		fifos = filepath.Join(t.TempDir(), "fifo")
	}
	return &containerdEngine{t: t, socket: sock, namespace: ns, fifos: fifos}
}

func (c *containerdEngine) try(ns string, args ...string) (string, error) {
	c.t.Helper()
	// A lost engine fails a call soon instead of hanging the tests.
	return run(c.t, "ctr", append([]string{"-a", c.socket, "--connect-timeout", "5s", "-n", ns}, args...)...)
}

func (c *containerdEngine) ctr(ns string, args ...string) string {
	c.t.Helper()
	out, err := c.try(ns, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// run starts a sleeping busybox task id in ns, removed at the end of the test.
func (c *containerdEngine) run(ns, id string, labels map[string]string) {
	c.t.Helper()
	args := []string{"run", "-d", "--fifo-dir", c.fifos}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	args = append(args, busyboxRef, id, "/bin/sleep", "100000")
	c.t.Cleanup(func() { c.remove(ns, id) })
	c.ctr(ns, args...)
}

// remove kills and deletes task and container id, whatever their state.
func (c *containerdEngine) remove(ns, id string) {
	_, _ = c.try(ns, "tasks", "resume", id)
	_, _ = c.try(ns, "tasks", "kill", "-s", "SIGKILL", id)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if _, err := c.try(ns, "tasks", "delete", "-f", id); err == nil {
			break
		}
		if out, err := c.try(ns, "tasks", "ls", "-q"); err == nil && !containsLine(out, id) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, _ = c.try(ns, "containers", "delete", id)
}

// pid is the PID ctr reports for task id's init process.
func (c *containerdEngine) pid(ns, id string) int {
	c.t.Helper()
	out := c.ctr(ns, "tasks", "ls")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				c.t.Fatal(err)
			}
			return pid
		}
	}
	c.t.Fatalf("no task %s in %s: %s", id, ns, out)
	return 0
}

// busyboxRef is the reference of the busybox image in containerd.
const busyboxRef = "docker.io/library/busybox:local"

// imageDigest is the digest of image ref in ns, as ctr reports it.
func (c *containerdEngine) imageDigest(ns, ref string) string {
	c.t.Helper()
	out := c.ctr(ns, "images", "ls")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == ref {
			return f[2]
		}
	}
	c.t.Fatalf("no image %s in %s: %s", ref, ns, out)
	return ""
}

// labels are container id's labels as ctr reports them.
func (c *containerdEngine) labels(ns, id string) map[string]string {
	c.t.Helper()
	var info struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(c.ctr(ns, "containers", "info", id)), &info); err != nil {
		c.t.Fatal(err)
	}
	if info.Labels == nil {
		info.Labels = map[string]string{}
	}
	return info.Labels
}

func (c *containerdEngine) watcher(opts Options) *Watcher {
	c.t.Helper()
	opts.Engine = Containerd
	opts.Endpoint = c.socket
	return readyWatcher(c.t, opts)
}

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

// --- watching ----------------------------------------------------------------

// readyWatcher creates a watcher, closed at the end of the test, and waits
// until it is ready.
func readyWatcher(t testing.TB, opts Options) *Watcher {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(w.Close)
	if err := w.ReadyWithin(30 * time.Second); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return w
}

// eventually polls the watcher's portfolio until cond holds (it returns ""),
// and returns that portfolio; it fails the test with cond's last complaint
// after waitFor.
func eventually(t testing.TB, w *Watcher, cond func(p *Portfolio) string) *Portfolio {
	t.Helper()
	return eventuallyWithin(t, w, waitFor, cond)
}

// eventuallyWithin is eventually, waiting at most d.
func eventuallyWithin(t testing.TB, w *Watcher, d time.Duration, cond func(p *Portfolio) string) *Portfolio {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		p := w.Portfolio()
		why := cond(p)
		if why == "" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s (generation %d, containers %v)", d, why, p.Generation, p.AllContainers())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyEngine returns the portfolio's engine, failing unless there is
// exactly one.
func onlyEngine(t *testing.T, p *Portfolio) EngineInfo {
	t.Helper()
	es := p.Engines()
	if len(es) != 1 {
		t.Fatalf("engines %+v, want one", es)
	}
	return es[0]
}

// checkSynced checks that the watcher follows engine e, synchronised not
// long ago without trouble since.
func checkSynced(t *testing.T, e EngineInfo) {
	t.Helper()
	if e.State != Synced || e.State.String() != "synced" || e.LastError != "" {
		t.Errorf("engine state %v, last error %q; want synced without trouble", e.State, e.LastError)
	}
	if e.SyncedAt.IsZero() || time.Since(e.SyncedAt) > 10*time.Minute || time.Until(e.SyncedAt) > time.Second {
		t.Errorf("engine synchronised at %v, now is %v", e.SyncedAt, time.Now())
	}
}

// checkStartedBetween checks that a start time taken from a process
// (clock ticks since a boot time of whole seconds) lies between before
// and after.
func checkStartedBetween(t *testing.T, at, before, after time.Time) {
	t.Helper()
	const slack = 2 * time.Second
	if at.Before(before.Add(-slack)) || at.After(after.Add(slack)) {
		t.Errorf("started at %v, not between %v and %v", at, before, after)
	}
}

// stays checks that cond holds on every portfolio for d.
func stays(t *testing.T, w *Watcher, d time.Duration, cond func(p *Portfolio) string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if why := cond(w.Portfolio()); why != "" {
			t.Fatal(why)
		}
	}
}

// --- podman ------------------------------------------------------------------

type podmanEngine struct {
	t        *testing.T
	endpoint string
	// A container running there before the test: its full ID and PID.
	fixtureID  string
	fixturePID int
}

func needPodman(t *testing.T) *podmanEngine {
	t.Helper()
	ep := os.Getenv("WW_TEST_PODMAN_ENDPOINT")
	if ep == "" {
		t.Skip("WW_TEST_PODMAN_ENDPOINT not set")
	}
	return &podmanEngine{t: t, endpoint: ep, fixtureID: mustEnv(t, "WW_TEST_PODMAN_ID"),
		fixturePID: atoi(t, mustEnv(t, "WW_TEST_PODMAN_PID"))}
}

func (p *podmanEngine) try(args ...string) (string, error) {
	p.t.Helper()
	return run(p.t, "podman", append([]string{"--url", p.endpoint}, args...)...)
}

func (p *podmanEngine) podman(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// run starts a sleeping busybox container, removed at the end of the test,
// and returns its full ID.
func (p *podmanEngine) run(name string, labels map[string]string) string {
	p.t.Helper()
	args := []string{"run", "-d", "--name", name}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	args = append(args, "localhost/busybox:local", "/bin/sleep", "100000")
	p.t.Cleanup(func() { _, _ = p.try("rm", "-f", "-t", "0", name) })
	return p.podman(args...)
}

func (p *podmanEngine) pid(nameorid string) int {
	p.t.Helper()
	return atoi(p.t, p.podman("inspect", "-f", "{{.State.Pid}}", nameorid))
}

func (p *podmanEngine) watcher(opts Options) *Watcher {
	p.t.Helper()
	opts.Engine = Podman
	opts.Endpoint = p.endpoint
	return readyWatcher(p.t, opts)
}

// --- CRI ---------------------------------------------------------------------

// criPod is the pod a CRI runtime runs for the tests: its sandbox and its
// container "app".
type criPod struct {
	endpoint                 string
	pod                      Pod // of the container; the sandbox's has Sandbox set
	sandboxID, containerID   string
	sandboxPID, containerPID int
}

func needCRI(t *testing.T) *criPod {
	t.Helper()
	ep := os.Getenv("WW_TEST_CRI_ENDPOINT")
	if ep == "" {
		t.Skip("WW_TEST_CRI_ENDPOINT not set")
	}
	pod := strings.Split(mustEnv(t, "WW_TEST_CRI_POD"), "/")
	if len(pod) != 3 {
		t.Fatalf("WW_TEST_CRI_POD %q is not NAME/NAMESPACE/UID", os.Getenv("WW_TEST_CRI_POD"))
	}
	return &criPod{
		endpoint:     ep,
		pod:          Pod{Name: pod[0], Namespace: pod[1], UID: pod[2]},
		sandboxID:    mustEnv(t, "WW_TEST_CRI_SANDBOX_ID"),
		sandboxPID:   atoi(t, mustEnv(t, "WW_TEST_CRI_SANDBOX_PID")),
		containerID:  mustEnv(t, "WW_TEST_CRI_CONTAINER_ID"),
		containerPID: atoi(t, mustEnv(t, "WW_TEST_CRI_CONTAINER_PID")),
	}
}

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s not set", name)
	}
	return v
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
