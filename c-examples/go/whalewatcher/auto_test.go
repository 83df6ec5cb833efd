package whalewatcher

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Discovery and Auto watchers look at the whole host: besides the test
// engines they find whatever else runs here, so the tests look for what
// they know and ignore the rest.

// testEngine is one engine of the environment as a watcher of its own sees
// it.
type testEngine struct {
	name string
	kind Engine
	pid  int // the process serving its socket
}

// testEngines are the Docker, containerd and podman engines of the
// environment, and the CRI runtime if there is one.
func testEngines(t *testing.T) []testEngine {
	t.Helper()
	d, c, p := needDocker(t), needContainerd(t), needPodman(t)
	engines := []testEngine{
		{"docker", Docker, onlyEngine(t, d.watcher(Options{}).Portfolio()).PID},
		{"containerd", Containerd, onlyEngine(t, c.watcher(Options{}).Portfolio()).PID},
		{"podman", Podman, onlyEngine(t, p.watcher(Options{}).Portfolio()).PID},
	}
	if os.Getenv("WW_TEST_CRI_ENDPOINT") != "" {
		cri := needCRI(t)
		e := onlyEngine(t, readyWatcher(t, Options{Engine: CRI, Endpoint: cri.endpoint}).Portfolio())
		// containerd's CRI plugin is listed as containerd only.
		kind := CRI
		if strings.HasPrefix(e.Version, "containerd ") {
			kind = Containerd
		}
		engines = append(engines, testEngine{"CRI runtime", kind, e.PID})
	}
	for _, e := range engines {
		if e.pid <= 0 {
			t.Fatalf("no PID for the %s engine", e.name)
		}
	}
	return engines
}

// fakeEngine answers as a Docker engine without containers on a socket
// where discovery looks for rootless Docker engines:
// /run/user/UID/docker.sock, owned by UID.
type fakeEngine struct {
	endpoint string
	uid      uint32
	srv      *http.Server
}

func startFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	uid := 43000 + binary.LittleEndian.Uint32(b[:])%20000
	dir := fmt.Sprintf("/run/user/%d", uid)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Skipf("cannot make a rootless engine's directory (not root?): %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sock, int(uid), -1); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(fakeDockerAPI)}
	go func() { _ = srv.Serve(l) }()
	f := &fakeEngine{endpoint: "unix://" + sock, uid: uid, srv: srv}
	t.Cleanup(f.stop)
	return f
}

// stop ends the engine: its connections close and its socket goes.
func (f *fakeEngine) stop() { _ = f.srv.Close() }

// fakeDockerAPI is the Docker API of an engine without containers, as far
// as discovery and a watcher ask.
func fakeDockerAPI(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/v1.") {
		path = path[strings.Index(path[1:], "/")+1:]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Api-Version", "1.41")
	switch path {
	case "/_ping":
		_, _ = w.Write([]byte("OK"))
	case "/info":
		_, _ = w.Write([]byte(`{"ID":"wwgo-fake","Name":"wwgo-fake","ServerVersion":"0.0.0-wwgo"}`))
	case "/version":
		_, _ = w.Write([]byte(`{"Version":"0.0.0-wwgo","ApiVersion":"1.41","MinAPIVersion":"1.12"}`))
	case "/containers/json":
		_, _ = w.Write([]byte(`[]`))
	case "/events":
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.Error(w, `{"message":"not here"}`, http.StatusNotFound)
	}
}

// socketOwner is the owner of the unix socket of endpoint.
func socketOwner(t *testing.T, endpoint string) uint32 {
	t.Helper()
	fi, err := os.Stat(strings.TrimPrefix(endpoint, "unix://"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// Discover lists every engine of the environment once, by the PID of the
// process serving it, at an endpoint that watches it; and a rootless-style
// Docker socket with its owner.
func TestDiscover(t *testing.T) {
	engines := testEngines(t)
	fake := startFakeEngine(t)
	// Each engine's probe (/_ping for Docker and podman) takes
	// milliseconds: one discovery finds them all.
	start := time.Now()
	found, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > DiscoverProbeTimeout+3*time.Second {
		t.Errorf("Discover took %v", took)
	} else {
		t.Logf("Discover took %v", took)
	}
	seen := map[string]bool{}
	for _, f := range found {
		t.Logf("%v, owner %d", f, f.UID)
		if seen[f.Endpoint] {
			t.Errorf("%s listed twice", f.Endpoint)
		}
		seen[f.Endpoint] = true
		if f.FoundBy != "env" && f.FoundBy != "path" && f.FoundBy != "process" {
			t.Errorf("%v: found by %q", f, f.FoundBy)
		}
		if f.Kind < Docker || f.Kind > Podman {
			t.Errorf("%v: kind %d", f, uint32(f.Kind))
		}
	}
	for _, e := range engines {
		var at []Endpoint
		for _, f := range found {
			if f.PID == e.pid {
				at = append(at, f)
			}
		}
		if len(at) != 1 || at[0].Kind != e.kind {
			t.Errorf("the %s engine (%v, PID %d) found as %v", e.name, e.kind, e.pid, at)
			continue
		}
		f := at[0]
		if strings.HasPrefix(f.Endpoint, "unix://") && f.UID != socketOwner(t, f.Endpoint) {
			t.Errorf("%v: owner %d, the socket's is %d", f, f.UID, socketOwner(t, f.Endpoint))
		}
		// What was found is watched as itself.
		w := readyWatcher(t, f.Options())
		if got := onlyEngine(t, w.Portfolio()); got.Kind != e.kind || got.PID != e.pid || got.Endpoint != f.Endpoint {
			t.Errorf("watching %v: engine %+v", f, got)
		}
		w.Close()
	}
	want := Endpoint{Kind: Docker, Endpoint: fake.endpoint, PID: os.Getpid(), FoundBy: "path", UID: fake.uid}
	var got *Endpoint
	for i := range found {
		if found[i].Endpoint == fake.endpoint {
			got = &found[i]
		}
	}
	if got == nil || *got != want {
		t.Errorf("the rootless-style engine: %v, want %+v", got, want)
	}
}

// An Auto watcher shows the containers of every engine of the environment
// once, each with its engine, and finds engines started later, as often as
// DiscoverInterval says: with DiscoverOnlyAtStart, never.
func TestAutoWatchesEveryEngine(t *testing.T) {
	engines := testEngines(t)
	d, c, p := needDocker(t), needContainerd(t), needPodman(t)
	name := "wwgo-auto-" + randomSuffix(t)
	dockerID := d.run(name, nil)
	c.run(c.namespace, name, nil)
	podmanID := p.run(name, nil)
	type shown struct {
		id     string
		engine int // in engines
		pid    int
	}
	want := []shown{
		{dockerID, 0, d.pid(dockerID)},
		{c.namespace + "/" + name, 1, c.pid(c.namespace, name)},
		{podmanID, 2, p.pid(podmanID)},
		{p.fixtureID, 2, p.fixturePID},
	}
	if len(engines) > 3 {
		// On containerd, the CRI runtime's pods are in the namespace k8s.io.
		cri := needCRI(t)
		prefix := ""
		if engines[3].kind == Containerd {
			prefix = "k8s.io/"
		}
		want = append(want, shown{prefix + cri.sandboxID, 3, cri.sandboxPID}, shown{prefix + cri.containerID, 3, cri.containerPID})
	}

	// Not Ready: it waits for every engine found at the start, and other
	// engines on this host may come and go meanwhile. An engine in trouble
	// is retried at least every second, never given up.
	newAuto := func(interval time.Duration) *Watcher {
		w, err := New(Options{Engine: Auto, DiscoverInterval: interval, BackoffInitial: 100 * time.Millisecond,
			BackoffMax: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		return w
	}
	once := newAuto(DiscoverOnlyAtStart)
	onceStarted := time.Now()
	often := newAuto(time.Second)

	// Each container once, on its engine.
	check := func(pf *Portfolio, want []shown) {
		t.Helper()
		checkConsistent(t, pf)
		es := pf.Engines()
		for _, s := range want {
			var at []*Container
			for _, ct := range pf.AllContainers() {
				if ct.ID == s.id || strings.HasSuffix(ct.ID, "/"+s.id) {
					at = append(at, ct)
				}
			}
			if len(at) != 1 {
				t.Errorf("%s shown %d times: %v", s.id, len(at), at)
				continue
			}
			e, te := es[at[0].Engine], engines[s.engine]
			if at[0].PID != s.pid || e.Kind != te.kind || e.PID != te.pid || e.State != Synced {
				t.Errorf("%s: PID %d on engine %+v; want PID %d on the %s engine (%v, PID %d)",
					s.id, at[0].PID, e, s.pid, te.name, te.kind, te.pid)
			}
		}
	}
	present := func(want []shown) func(pf *Portfolio) string {
		return func(pf *Portfolio) string {
			for _, s := range want {
				if pf.Container(s.id) == nil {
					return fmt.Sprintf("%s not there; engines %+v", s.id, pf.Engines())
				}
			}
			return ""
		}
	}
	check(eventuallyWithin(t, often, time.Minute, present(want)), want)

	// The watcher that discovers only at start found them all, too.
	check(eventuallyWithin(t, once, time.Minute, present(want)), want)

	// An engine that starts later is found at the next discovery.
	fake := startFakeEngine(t)
	index := func(pf *Portfolio) int {
		for i, e := range pf.Engines() {
			if e.Endpoint == fake.endpoint {
				return i
			}
		}
		return -1
	}
	pf := eventually(t, often, func(pf *Portfolio) string {
		if i := index(pf); i < 0 || pf.Engines()[i].State != Synced {
			return "the engine started later is not there, synchronised"
		}
		return ""
	})
	late := index(pf)
	if e := pf.Engines()[late]; e.Kind != Docker || e.Type != "docker.com" || e.PID != os.Getpid() {
		t.Errorf("the engine started later: %+v", e)
	}
	// The watcher that discovers only at start never sees it, also past the
	// default interval (10 s) and its discovery (1 s).
	time.Sleep(time.Until(onceStarted.Add(12 * time.Second)))
	if i := index(once.Portfolio()); i >= 0 {
		t.Errorf("the watcher discovering only at start found the later engine: %+v", once.Portfolio().Engines()[i])
	}

	// An engine that is gone stays, given up, at its index.
	before := often.Portfolio().Engines()
	fake.stop()
	pf = eventually(t, often, func(pf *Portfolio) string {
		if e := pf.Engines()[late]; e.State != GaveUp || !strings.Contains(e.LastError, "no longer found") {
			return fmt.Sprintf("the engine gone is %v: %s", e.State, e.LastError)
		}
		return ""
	})
	for i, e := range before {
		if now := pf.Engines()[i]; now.Endpoint != e.Endpoint {
			t.Errorf("engine %d was %s, is %s", i, e.Endpoint, now.Endpoint)
		}
	}

	// Closing a watcher of many engines is prompt.
	waiting := make(chan error, 1)
	go func() { _, err := often.Wait(context.Background(), 1<<62); waiting <- err }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	often.Close()
	if err := <-waiting; err != ErrClosed {
		t.Errorf("Wait: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
}
