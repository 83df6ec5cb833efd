package whalewatcher

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func isStatus(err error, sentinel *Error) bool { return errors.Is(err, sentinel) }

// An endpoint nobody listens on (a socket path in an empty directory).
func deadSocket(t *testing.T) string {
	return filepath.Join(t.TempDir(), "nobody.sock")
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want *Error
	}{
		{"unknown engine", Options{Engine: Engine(99)}, ErrInvalidArg},
		{"unknown backoff", Options{Backoff: Backoff(42)}, ErrInvalidArg},
		{"unsupported docker scheme", Options{Endpoint: "ftp://example.invalid"}, ErrInvalidArg},
		{"endpoint with NUL", Options{Endpoint: "unix:///a\x00b"}, ErrInvalidArg},
		{"max below initial", Options{Backoff: BackoffExponential, BackoffInitial: time.Second, BackoffMax: 10 * time.Millisecond}, ErrInvalidArg},
		{"negative duration", Options{CallTimeout: -time.Second}, ErrInvalidArg},
		{"duration too long", Options{BackoffMaxElapsed: time.Duration(math.MaxUint32+1) * time.Millisecond}, ErrInvalidArg},
		{"namespace with comma", Options{Engine: Containerd, IgnoredNamespaces: []string{"a,b"}}, ErrInvalidArg},
		{"empty namespace", Options{Engine: Containerd, IgnoredNamespaces: []string{""}}, ErrInvalidArg},
		{"namespace the library rejects", Options{Engine: Containerd, IgnoredNamespaces: []string{"not a namespace!"}}, ErrInvalidArg},
		{"auto with an endpoint", Options{Engine: Auto, Endpoint: "unix:///run/docker.sock"}, ErrInvalidArg},
		{"unsupported podman scheme", Options{Engine: Podman, Endpoint: "ftp://example.invalid"}, ErrInvalidArg},
		{"CRI over TCP", Options{Engine: CRI, Endpoint: "tcp://127.0.0.1:1"}, ErrInvalidArg},
		{"negative relist interval", Options{Engine: CRI, RelistInterval: -time.Second}, ErrInvalidArg},
		{"negative discover interval", Options{Engine: Auto, DiscoverInterval: -2}, ErrInvalidArg},
		{"discover interval too long", Options{Engine: Auto, DiscoverInterval: time.Duration(math.MaxUint32) * time.Millisecond}, ErrInvalidArg},
		{"negative audit interval", Options{AuditInterval: -2}, ErrInvalidArg},
		{"audit interval too long", Options{AuditInterval: time.Duration(math.MaxUint32+1) * time.Millisecond}, ErrInvalidArg},
		{"TLS file with NUL", Options{Endpoint: "tcp://127.0.0.1:1", TLSCA: "/tmp/a\x00b"}, ErrInvalidArg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.opts)
			if w != nil {
				w.Close()
				t.Fatal("got a watcher")
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want status %v", err, tc.want.Status)
			}
			if e.Message == "" {
				t.Errorf("no message in %#v", e)
			}
			t.Logf("%v", err)
		})
	}
}

func TestLibraryRejectsUnknownOptionsSize(t *testing.T) {
	w, err := newWatcher(Options{}, 3)
	if w != nil {
		w.Close()
	}
	if !errors.Is(err, ErrABIMismatch) || !strings.Contains(err.Error(), "struct_size") {
		t.Fatalf("err = %v, want an ABI mismatch naming struct_size", err)
	}
}

func TestGoodOptionsAreAccepted(t *testing.T) {
	for _, opts := range []Options{
		{},
		{Engine: Containerd, IgnoredNamespaces: []string{}},
		{Engine: Containerd, IgnoredNamespaces: []string{"moby", "k8s.io", "other"}},
		{Backoff: BackoffConstant, BackoffInitial: time.Microsecond}, // rounds up to 1 ms
		{Backoff: BackoffNone, CallTimeout: time.Hour, BackoffMaxElapsed: time.Duration(math.MaxUint32) * time.Millisecond},
		{Endpoint: "tcp://127.0.0.1:1"},
		{Engine: Podman, Endpoint: "unix://" + deadSocket(t)},
		{Engine: CRI, Endpoint: deadSocket(t), RelistInterval: time.Minute, CRIEvents: true},
		{Engine: Auto, DiscoverInterval: DiscoverOnlyAtStart, IgnoredNamespaces: []string{}},
		{Engine: Auto, DiscoverInterval: time.Duration(math.MaxUint32-1) * time.Millisecond},
		{AuditInterval: AuditsOff},
		{AuditInterval: time.Microsecond}, // rounds up to 1 ms
		{AuditInterval: time.Duration(math.MaxUint32) * time.Millisecond},
		{Engine: Auto, AuditInterval: AuditsOff, DiscoverInterval: DiscoverOnlyAtStart},
		{Engine: Containerd, Endpoint: deadSocket(t), AuditInterval: time.Second},
		// TLS files are read when connecting, not by New.
		{Endpoint: "https://127.0.0.1:1"},
		{Endpoint: "https://localhost:2376", TLSCA: "/nonexistent/ca.pem"},
		{Endpoint: "tcp://127.0.0.1:1", TLSCA: "/nonexistent/ca.pem", TLSCert: "/nonexistent/cert.pem",
			TLSKey: "/nonexistent/key.pem"},
	} {
		w, err := New(opts)
		if err != nil {
			t.Errorf("New(%+v): %v", opts, err)
			continue
		}
		w.Close()
	}
}

// The Options reach the library as the C API has them: zero values as 0
// (the library's defaults) but AuditInterval as ww_options_init's default
// (the C API's 0 turns audits off), durations in whole milliseconds
// rounded up, DiscoverOnlyAtStart as UINT32_MAX, AuditsOff as 0, strings
// only when given.
func TestOptionsInC(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want map[string]uint64
	}{
		{Options{}, map[string]uint64{"engine": 1, "endpoint": 0, "backoff": 2, "backoff_initial_ms": 0, "backoff_max_ms": 0,
			"backoff_max_elapsed_ms": 0, "call_timeout_ms": 0, "ignored_namespaces": 0, "cri_poll_ms": 0, "cri_events": 0,
			"discover_interval_ms": 0, "tls_ca": 0, "tls_cert": 0, "tls_key": 0, "audit_interval_ms": 60000}},
		{Options{Engine: CRI, Endpoint: "/run/crio/crio.sock", RelistInterval: 1500 * time.Microsecond, CRIEvents: true},
			map[string]uint64{"engine": 3, "endpoint": 1, "cri_poll_ms": 2, "cri_events": 1}},
		{Options{Engine: Podman, Backoff: BackoffNone, BackoffInitial: time.Second, BackoffMax: time.Minute,
			BackoffMaxElapsed: time.Hour, CallTimeout: time.Nanosecond},
			map[string]uint64{"engine": 4, "backoff": 0, "backoff_initial_ms": 1000, "backoff_max_ms": 60000,
				"backoff_max_elapsed_ms": 3600000, "call_timeout_ms": 1}},
		{Options{Engine: Auto, DiscoverInterval: 2 * time.Second, IgnoredNamespaces: []string{}},
			map[string]uint64{"engine": 5, "endpoint": 0, "discover_interval_ms": 2000, "ignored_namespaces": 1}},
		{Options{Engine: Auto, DiscoverInterval: DiscoverOnlyAtStart},
			map[string]uint64{"discover_interval_ms": math.MaxUint32}},
		{Options{Engine: Auto, DiscoverInterval: time.Duration(math.MaxUint32-1) * time.Millisecond},
			map[string]uint64{"discover_interval_ms": math.MaxUint32 - 1}},
		{Options{Engine: Containerd, Backoff: BackoffConstant}, map[string]uint64{"engine": 2, "backoff": 1}},
		{Options{AuditInterval: AuditsOff}, map[string]uint64{"audit_interval_ms": 0}},
		{Options{AuditInterval: 1500 * time.Microsecond}, map[string]uint64{"audit_interval_ms": 2}},
		{Options{Engine: Auto, AuditInterval: time.Minute}, map[string]uint64{"audit_interval_ms": 60000}},
		{Options{Endpoint: "https://h:2376", TLSCA: "ca.pem", TLSKey: "key.pem"},
			map[string]uint64{"endpoint": 1, "tls_ca": 1, "tls_cert": 0, "tls_key": 1, "audit_interval_ms": 60000}},
		{Options{Endpoint: "tcp://h:2376", TLSCert: "cert.pem"}, map[string]uint64{"tls_ca": 0, "tls_cert": 1, "tls_key": 0}},
	} {
		c, err := tc.opts.toC()
		if err != nil {
			t.Errorf("%+v: %v", tc.opts, err)
			continue
		}
		got := c.fields()
		c.free()
		for field, want := range tc.want {
			if got[field] != want {
				t.Errorf("%+v: %s = %d, want %d", tc.opts, field, got[field], want)
			}
		}
		// The struct as this package knows it: on LP64, ABI 2's 96 bytes
		// (with the TLS files and audit_interval_ms).
		if size := got["struct_size"]; unsafe.Sizeof(uintptr(0)) == 8 && size != 96 {
			t.Errorf("%+v: struct_size %d, want 96", tc.opts, size)
		}
	}
}

// TLS files are for Docker at a TCP endpoint only; podman takes no TLS.
func TestTLSOptionsNeedADockerTCPEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		says string
	}{
		{"unix endpoint", Options{Endpoint: "unix:///run/docker.sock", TLSCA: "/x/ca.pem"},
			"TLS files given for unix:///run/docker.sock: TLS needs a tcp:// or https:// endpoint"},
		{"unix endpoint, key only", Options{Engine: Docker, Endpoint: "unix://" + deadSocket(t), TLSKey: "/x/key.pem"},
			"TLS needs a tcp:// or https:// endpoint"},
		{"podman", Options{Engine: Podman, Endpoint: "tcp://127.0.0.1:1", TLSCert: "/x/cert.pem"}, "TLS files are for Docker"},
		{"containerd", Options{Engine: Containerd, Endpoint: deadSocket(t), TLSCA: "/x/ca.pem"}, "TLS files are for Docker"},
		{"CRI", Options{Engine: CRI, Endpoint: deadSocket(t), TLSCA: "/x/ca.pem"}, "TLS files are for Docker"},
		{"Auto", Options{Engine: Auto, TLSCA: "/x/ca.pem"}, "TLS files are for Docker"},
		{"podman at https", Options{Engine: Podman, Endpoint: "https://127.0.0.1:2376"}, "podman's API takes no TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.opts)
			if w != nil {
				w.Close()
				t.Fatal("got a watcher")
			}
			if !errors.Is(err, ErrInvalidArg) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want ErrInvalidArg saying %q", err, tc.says)
			}
			t.Logf("%v", err)
		})
	}
}

func TestEngineNames(t *testing.T) {
	for e, want := range map[Engine]string{0: "docker", Docker: "docker", Containerd: "containerd", CRI: "cri",
		Podman: "podman", Auto: "auto", Engine(6): "Engine(6)"} {
		if e.String() != want {
			t.Errorf("%d: %q, want %q", uint32(e), e.String(), want)
		}
	}
	if (Endpoint{Kind: Podman, Endpoint: "unix:///run/podman/podman.sock", PID: 7, FoundBy: "path"}).String() !=
		"podman unix:///run/podman/podman.sock (PID 7, found by path)" {
		t.Error("Endpoint.String")
	}
	if o := (Endpoint{Kind: CRI, Endpoint: "unix:///run/crio/crio.sock", PID: 7}).Options(); !reflect.DeepEqual(o,
		Options{Engine: CRI, Endpoint: "unix:///run/crio/crio.sock"}) {
		t.Errorf("Endpoint.Options: %+v", o)
	}
}

func TestUnreachableEngineWithoutBackoffGivesUp(t *testing.T) {
	for _, tc := range []struct {
		engine   Engine
		endpoint string
	}{
		{Docker, "unix://" + deadSocket(t)},
		{Containerd, deadSocket(t)},
		{Podman, "unix://" + deadSocket(t)},
		{CRI, "unix://" + deadSocket(t)},
	} {
		t.Run(tc.engine.String(), func(t *testing.T) {
			w, err := New(Options{Engine: tc.engine, Endpoint: tc.endpoint, Backoff: BackoffNone})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err = w.Ready(ctx)
			if !errors.Is(err, ErrEngine) {
				t.Fatalf("Ready: %v, want ErrEngine", err)
			}
			if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
				t.Errorf("gave up only after %v", time.Since(start))
			}
			if !strings.Contains(err.Error(), "nobody.sock") {
				t.Errorf("the error does not name the endpoint: %v", err)
			}
			// It stays given up, also for a look without waiting.
			if err := w.ReadyWithin(0); !errors.Is(err, ErrEngine) {
				t.Errorf("second Ready: %v", err)
			}
			// Giving up is a published change of the engine's state.
			p := w.Portfolio()
			if p.Generation == 0 || p.ContainerTotal() != 0 || p.Project("") == nil || len(p.Names()) != 0 {
				t.Errorf("portfolio of a never reached engine: %+v", p)
			}
			e := onlyEngine(t, p)
			wantType := map[Engine]string{Docker: "docker.com", Containerd: "containerd.io", Podman: "podman.io",
				CRI: "k8s.io/cri-api"}[tc.engine]
			if e.Kind != tc.engine || e.Type != wantType || !strings.Contains(e.Endpoint, "nobody.sock") ||
				e.ID != "" || e.Version != "" || e.PID != 0 || !e.SyncedAt.IsZero() {
				t.Errorf("engine info: %+v", e)
			}
			if e.State != GaveUp || e.State.String() != "gave up" || !strings.Contains(e.LastError, "nobody.sock") {
				t.Errorf("engine state %v, last error %q", e.State, e.LastError)
			}
			// Nothing can change anymore: Wait says so at once.
			start = time.Now()
			gen, werr := w.Wait(ctx, p.Generation)
			if !errors.Is(werr, ErrEngine) || gen != p.Generation || time.Since(start) > 2*time.Second {
				t.Errorf("Wait after giving up: %d, %v after %v", gen, werr, time.Since(start))
			}
			t.Logf("%v; %v", err, werr)
		})
	}
}

func TestReadyTimesOutWhileRetrying(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffConstant, BackoffInitial: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	err = w.ReadyWithin(300 * time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadyWithin: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("ReadyWithin(300ms) took %v", took)
	}
	if !strings.Contains(err.Error(), "nobody.sock") {
		t.Errorf("the timeout does not name the latest engine trouble: %v", err)
	}
	// ReadyWithin(0) just looks.
	start = time.Now()
	if err := w.ReadyWithin(0); !errors.Is(err, ErrTimeout) || time.Since(start) > time.Second {
		t.Errorf("ReadyWithin(0): %v after %v", err, time.Since(start))
	}
	t.Logf("%v", err)
}

func TestReadyHonoursCancellation(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err = w.Ready(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Ready: %v, want Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancellation noticed only after %v", took)
	}
	// An already cancelled context still gets an answer at once.
	if err := w.Ready(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ready(cancelled): %v", err)
	}
}

func TestGivesUpAfterMaxElapsed(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffConstant,
		BackoffInitial: 50 * time.Millisecond, BackoffMaxElapsed: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	if err := w.ReadyWithin(20 * time.Second); !errors.Is(err, ErrEngine) {
		t.Fatalf("Ready: %v, want ErrEngine", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 10*time.Second {
		t.Errorf("gave up after %v, want about 300ms", took)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	var nilw *Watcher
	nilw.Close() // no panic

	w, err := New(Options{Endpoint: "unix://" + deadSocket(t)})
	if err != nil {
		t.Fatal(err)
	}
	before := w.Portfolio()
	// Close from many goroutines at once, and again.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.Close() }()
	}
	wg.Wait()
	w.Close()
	if err := w.ReadyWithin(time.Second); err != ErrClosed {
		t.Errorf("Ready after Close: %v", err)
	}
	if p := w.Portfolio(); p != nil {
		t.Errorf("Portfolio after Close: %+v", p)
	}
	if before.Project("") == nil || len(before.Engines()) != 1 || before.Engines()[0].Type != "docker.com" {
		t.Errorf("a portfolio taken before Close changed: %+v", before)
	}
}

func TestCloseEndsAWaitingReady(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Ready(context.Background()) }()
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	w.Close()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Errorf("Ready: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Ready still waits after Close")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
}

// Forgotten watchers are closed by their finalizer: their library threads
// end. The count of OS threads of the process must not grow by one per
// forgotten watcher.
func TestFinalizerClosesForgottenWatchers(t *testing.T) {
	threads := func() int {
		n, err := filepath.Glob("/proc/self/task/*")
		if err != nil {
			t.Fatal(err)
		}
		return len(n)
	}
	endpoint := "unix://" + deadSocket(t)
	forget := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := New(Options{Endpoint: endpoint}); err != nil {
				t.Fatal(err)
			}
		}
	}
	forget(5)
	collect := func() {
		for i := 0; i < 5; i++ {
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
		}
	}
	collect()
	base := threads()
	const n = 40
	forget(n)
	collect()
	if grown := threads() - base; grown >= n/2 {
		t.Errorf("%d forgotten watchers left %d more threads", n, grown)
	}
}

// Many goroutines take portfolios and wait for readiness at the same time,
// on a watcher that never becomes ready; run with -race.
func TestConcurrentUseWithoutEngine(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffConstant, BackoffInitial: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if i%2 == 0 {
					if p := w.Portfolio(); p != nil && p.Project("") == nil {
						t.Error("no unnamed project")
					}
				} else if err := w.ReadyWithin(time.Millisecond); err != ErrClosed && !errors.Is(err, ErrTimeout) {
					t.Errorf("ReadyWithin: %v", err)
				}
			}
		}(i)
	}
	time.Sleep(20 * time.Millisecond)
	w.Close() // while they run
	wg.Wait()
}

// fakeDocker serves HTTP on a unix socket with handler h; it stops at the
// end of the test.
func fakeDocker(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "unix://" + sock
}

// An engine that answers every request with an error: without backoff the
// watcher gives up.
func TestFailingEngineWithoutBackoffGivesUp(t *testing.T) {
	ep := fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"wwgo says no"}`, http.StatusInternalServerError)
	})
	w, err := New(Options{Endpoint: ep, Backoff: BackoffNone})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ReadyWithin(20 * time.Second); !errors.Is(err, ErrEngine) {
		t.Fatalf("Ready: %v, want ErrEngine", err)
	} else {
		t.Logf("%v", err)
	}
}

// An engine that accepts but never answers: CallTimeout bounds each call,
// so without backoff the watcher gives up soon.
func TestHangingEngineIsBoundByCallTimeout(t *testing.T) {
	release := make(chan struct{})
	ep := fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	w, err := New(Options{Endpoint: ep, Backoff: BackoffNone, CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = w.ReadyWithin(20 * time.Second)
	took := time.Since(start)
	if !errors.Is(err, ErrEngine) {
		t.Fatalf("Ready: %v, want ErrEngine", err)
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %v with a 200ms call timeout", took)
	}
	t.Logf("after %v: %v", took, err)
	// Close is prompt, too.
	start = time.Now()
	w.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
}
