package whalewatcher

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// --- without an engine ---------------------------------------------------------

// quietWatcher watches an endpoint nobody listens on, retrying only after
// an hour: its first failure is published (generation 1), then nothing
// changes. It returns the watcher and that generation.
func quietWatcher(t *testing.T) (*Watcher, uint64) {
	t.Helper()
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffConstant, BackoffInitial: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gen, err := w.Wait(ctx, 0)
	if err != nil || gen == 0 {
		t.Fatalf("Wait for the first failure: %d, %v", gen, err)
	}
	if e := onlyEngine(t, w.Portfolio()); e.State != Connecting || !strings.Contains(e.LastError, "nobody.sock") {
		t.Fatalf("engine %+v", e)
	}
	return w, gen
}

func TestWaitHonoursTheContext(t *testing.T) {
	w, gen := quietWatcher(t)

	// A deadline: Wait waits that long, then says why.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := w.Wait(ctx, gen)
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || got != gen {
		t.Fatalf("Wait: %d, %v; want %d and a deadline error", got, err, gen)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("Wait with a 300ms deadline took %v", took)
	}

	// Cancellation is noticed promptly.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	if _, err := w.Wait(ctx, gen); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait: %v, want Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancellation noticed only after %v", took)
	}

	// An ended context still gets an answer when a newer generation
	// exists, at once.
	start = time.Now()
	if got, err := w.Wait(ctx, gen-1); err != nil || got != gen || time.Since(start) > time.Second {
		t.Errorf("Wait(cancelled, older): %d, %v after %v", got, err, time.Since(start))
	}
	if got, err := w.Wait(ctx, gen); !errors.Is(err, context.Canceled) || got != gen {
		t.Errorf("Wait(cancelled, current): %d, %v", got, err)
	}
}

func TestCloseEndsWaitAndChanges(t *testing.T) {
	w, gen := quietWatcher(t)
	type result struct {
		gen uint64
		err error
	}
	waits := make(chan result, 3)
	for i := 0; i < 3; i++ {
		go func() {
			g, err := w.Wait(context.Background(), gen)
			waits <- result{g, err}
		}()
	}
	changes := w.Changes(context.Background())
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	w.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	for i := 0; i < 3; i++ {
		select {
		case r := <-waits:
			if r.err != ErrClosed || !errors.Is(r.err, ErrClosed) || r.gen != gen {
				t.Errorf("Wait: %d, %v; want %d, ErrClosed", r.gen, r.err, gen)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait still waits after Close")
		}
	}
	select {
	case batch, ok := <-changes:
		if ok {
			t.Errorf("a batch without containers: %v", batch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Changes channel is still open after Close")
	}
	// After Close: at once.
	if _, err := w.Wait(context.Background(), 0); err != ErrClosed {
		t.Errorf("Wait after Close: %v", err)
	}
	if _, ok := <-w.Changes(context.Background()); ok {
		t.Error("Changes after Close gave a batch")
	}
}

// Waiting with a context that never ends sleeps in the library, in one
// call per waiter; Close wakes every waiter at once, whatever its context,
// and returns promptly itself.
func TestCloseWakesSleepingWaitersAtOnce(t *testing.T) {
	w, gen := quietWatcher(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 8)
	for i := 0; i < 3; i++ {
		go func() { _, err := w.Wait(context.Background(), gen); done <- err }()
	}
	go func() { done <- w.ReadyWithin(-1) }()
	go func() { done <- w.Ready(context.Background()) }()
	go func() { _, err := w.Wait(ctx, gen); done <- err }() // one that may end: it looks every 50 ms
	changes := []<-chan []Change{w.Changes(context.Background()), w.Changes(ctx)}
	const waiters = 6

	// Once all are waiting, those without an end to watch for make no
	// further library calls, however long they wait: just the sliced one.
	time.Sleep(200 * time.Millisecond)
	calls := waitCalls.Load()
	time.Sleep(500 * time.Millisecond)
	if made := waitCalls.Load() - calls; made < 2 || made > 30 {
		t.Errorf("%d library waits in 500 ms; want those of the two with a context that may end", made)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the Wait whose context ended: %v", err)
	}
	if _, ok := <-changes[1]; ok {
		t.Fatal("a batch without containers")
	}
	time.Sleep(100 * time.Millisecond)
	calls = waitCalls.Load()
	time.Sleep(300 * time.Millisecond)
	if made := waitCalls.Load() - calls; made != 0 {
		t.Errorf("%d library waits in 300 ms by waiters that sleep until something happens", made)
	}

	start := time.Now()
	w.Close()
	closed := time.Since(start)
	for i := 0; i < waiters-1; i++ {
		select {
		case err := <-done:
			if err != ErrClosed {
				t.Errorf("a waiter ended with %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter still waits after Close")
		}
	}
	select {
	case _, ok := <-changes[0]:
		if ok {
			t.Error("a batch without containers")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Changes channel is still open after Close")
	}
	woken := time.Since(start)
	if closed > time.Second || woken > time.Second {
		t.Errorf("Close took %v, its waiters were woken after %v", closed, woken)
	}
}

// Close races with every other call, from many goroutines, at any moment;
// run with -race. Each call ends, with a result or ErrClosed.
func TestCloseRacesWithEveryCall(t *testing.T) {
	for round := 0; round < 20; round++ {
		w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffConstant, BackoffInitial: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					switch i % 4 {
					case 0:
						if _, err := w.Wait(context.Background(), 1<<62); err != ErrClosed {
							t.Errorf("Wait: %v", err)
						}
						return // woken by Close only
					case 1:
						if err := w.ReadyWithin(time.Millisecond); err != ErrClosed && !errors.Is(err, ErrTimeout) {
							t.Errorf("ReadyWithin: %v", err)
						}
					case 2:
						if p := w.Portfolio(); p != nil && len(p.Engines()) != 1 {
							t.Errorf("portfolio %+v", p)
						}
					case 3:
						for range w.Changes(context.Background()) {
						}
						if w.Portfolio() == nil {
							return
						}
					}
				}
			}(i)
		}
		time.Sleep(time.Duration(round%5) * 3 * time.Millisecond)
		closers := make(chan struct{})
		for i := 0; i < 2; i++ {
			go func() { w.Close(); closers <- struct{}{} }()
		}
		for i := 0; i < 2; i++ {
			select {
			case <-closers:
			case <-time.After(5 * time.Second):
				t.Fatal("Close hangs")
			}
		}
		close(stop)
		ended := make(chan struct{})
		go func() { wg.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("a call still runs after Close")
		}
	}
}

// When every engine has given up nothing can change anymore: Wait says so
// (see TestUnreachableEngineWithoutBackoffGivesUp) and Changes' channel
// closes by itself.
func TestChangesEndWhenTheEngineGivesUp(t *testing.T) {
	w, err := New(Options{Endpoint: "unix://" + deadSocket(t), Backoff: BackoffNone})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case batch, ok := <-w.Changes(context.Background()):
		if ok {
			t.Errorf("a batch without containers: %v", batch)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the Changes channel stays open after giving up")
	}
	if e := onlyEngine(t, w.Portfolio()); e.State != GaveUp {
		t.Errorf("engine %+v", e)
	}
}

// --- with engines -----------------------------------------------------------------

// changeLog receives the batches of a Changes channel in the background.
type changeLog struct {
	mu      sync.Mutex
	batches [][]Change
	closed  chan struct{}
}

func collect(ch <-chan []Change) *changeLog {
	l := &changeLog{closed: make(chan struct{})}
	go func() {
		defer close(l.closed)
		for batch := range ch {
			l.mu.Lock()
			l.batches = append(l.batches, batch)
			l.mu.Unlock()
		}
	}()
	return l
}

// of returns the changes of container id received so far, in order.
func (l *changeLog) of(id string) []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Change
	for _, b := range l.batches {
		for _, c := range b {
			if c.Container().ID == id {
				out = append(out, c)
			}
		}
	}
	return out
}

// batchesWith counts the batches received so far with a change of one of
// the ids.
func (l *changeLog) batchesWith(ids ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.batches {
		for _, c := range b {
			if contains(ids, c.Container().ID) {
				n++
				break
			}
		}
	}
	return n
}

func kinds(changes []Change) []ChangeKind {
	out := []ChangeKind{}
	for _, c := range changes {
		out = append(out, c.Kind)
	}
	return out
}

func isPrefix(have, of []ChangeKind) bool {
	return len(have) <= len(of) && reflect.DeepEqual(have, of[:len(have)])
}

// waitFor waits until the changes of container id are exactly want (it
// fails at once when they are something else), and returns them.
func (l *changeLog) waitFor(t *testing.T, id string, want ...ChangeKind) []Change {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := l.of(id)
		if !isPrefix(kinds(got), want) {
			t.Fatalf("changes of %s: %v, want %v", id, got, want)
		}
		if len(got) == len(want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, changes of %s: %v, want %v", waitFor, id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// first waits for the first batch.
func (l *changeLog) first(t *testing.T) []Change {
	t.Helper()
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		if len(l.batches) > 0 {
			b := l.batches[0]
			l.mu.Unlock()
			return b
		}
		l.mu.Unlock()
	}
	t.Fatal("no first batch")
	return nil
}

// checkChange checks the containers of a change of container id.
func checkChange(t *testing.T, c Change, id string, pid int) {
	t.Helper()
	for _, x := range []*Container{c.Before, c.After} {
		if x != nil && (x.ID != id || x.PID != pid || x.Labels == nil || x.Engine != 0) {
			t.Errorf("%v: container %+v, want ID %s, PID %d", c.Kind, *x, id, pid)
		}
	}
}

// Wait wakes up for a real `docker pause`, with a newer generation whose
// portfolio shows it.
func TestDockerWaitWakesOnPause(t *testing.T) {
	d := needDocker(t)
	name := "wwgo-wait-" + randomSuffix(t)
	id := d.run(name, nil)
	w := d.watcher(Options{})
	p := w.Portfolio()
	if c := p.Container(id); c == nil || c.Paused {
		t.Fatalf("before the pause: %v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// A generation already passed is there at once.
	if g, err := w.Wait(ctx, 0); err != nil || g < p.Generation {
		t.Fatalf("Wait(0): %d, %v; the portfolio has %d", g, err, p.Generation)
	}
	paused := make(chan error, 1)
	time.AfterFunc(200*time.Millisecond, func() {
		_, err := d.try("pause", name)
		paused <- err
	})
	gen, wakes := p.Generation, 0
	for {
		g, err := w.Wait(ctx, gen)
		if err != nil {
			t.Fatalf("Wait(%d) after %d wake-ups: %v", gen, wakes, err)
		}
		if g <= gen {
			t.Fatalf("Wait(%d) returned generation %d", gen, g)
		}
		wakes++
		gen = g
		p := w.Portfolio()
		if p.Generation < g {
			t.Fatalf("portfolio generation %d after Wait returned %d", p.Generation, g)
		}
		if c := p.Container(id); c != nil && c.Paused {
			break
		}
	}
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
	t.Logf("paused at generation %d after %d wake-ups", gen, wakes)
}

// Changes delivers every change of a container once, in order: the first
// batch has what was alive at the start.
func TestDockerChanges(t *testing.T) {
	d := needDocker(t)
	sfx := randomSuffix(t)
	pre := d.run("wwgo-chpre-"+sfx, nil)
	w := d.watcher(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := collect(w.Changes(ctx))

	first := log.first(t)
	found := false
	for _, c := range first {
		if c.Kind != Started || c.Before != nil || c.After == nil {
			t.Errorf("first batch: %v", c)
		}
		found = found || c.After.ID == pre
	}
	if !found {
		t.Errorf("first batch without %s: %v", pre, first)
	}

	name, project := "wwgo-ch-"+sfx, "wwgo-chproj-"+sfx
	id := d.run(name, map[string]string{projectLabel: project})
	pid := d.pid(id)
	c := log.waitFor(t, id, Started)[0]
	checkChange(t, c, id, pid)
	if c.After.Name != name || c.After.Project != project || c.After.Paused || c.After.Image != "busybox:local" ||
		!strings.HasPrefix(c.After.ImageID, "sha256:") || !c.After.StartedAt.Equal(d.startedAt(id)) {
		t.Errorf("started %+v", *c.After)
	}

	d.docker("pause", name)
	c = log.waitFor(t, id, Started, Paused)[1]
	checkChange(t, c, id, pid)
	if c.Before.Paused || !c.After.Paused {
		t.Errorf("paused: %+v -> %+v", *c.Before, *c.After)
	}
	d.docker("unpause", name)
	c = log.waitFor(t, id, Started, Paused, Unpaused)[2]
	checkChange(t, c, id, pid)
	if !c.Before.Paused || c.After.Paused {
		t.Errorf("unpaused: %+v -> %+v", *c.Before, *c.After)
	}

	// Another name: the same incarnation, updated.
	renamed := name + "-renamed"
	d.t.Cleanup(func() { _, _ = d.try("rm", "-f", renamed) })
	d.docker("rename", name, renamed)
	c = log.waitFor(t, id, Started, Paused, Unpaused, Updated)[3]
	checkChange(t, c, id, pid)
	if c.Before.Name != name || c.After.Name != renamed {
		t.Errorf("renamed: %+v -> %+v", *c.Before, *c.After)
	}

	// A restart is a new incarnation: the old one exited, a new one started.
	d.docker("restart", "-t", "0", renamed)
	newPID := d.pid(id)
	cs := log.waitFor(t, id, Started, Paused, Unpaused, Updated, Exited, Started)
	checkChange(t, cs[4], id, pid)
	checkChange(t, cs[5], id, newPID)

	d.docker("kill", renamed)
	c = log.waitFor(t, id, Started, Paused, Unpaused, Updated, Exited, Started, Exited)[6]
	checkChange(t, c, id, newPID)

	// Each once: nothing more comes, and the container alive from the
	// start never changed.
	time.Sleep(500 * time.Millisecond)
	if got := log.of(id); len(got) != 7 {
		t.Errorf("changes of %s: %v", id, got)
	}
	if got := log.of(pre); len(got) != 1 {
		t.Errorf("changes of %s: %v", pre, got)
	}
	cancel()
	select {
	case <-log.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel is still open after the context ended")
	}
}

// A consumer that does not receive for a while holds up nothing but its
// own goroutine: the watcher goes on, and the changes meanwhile fold into
// the next batches, each seen once.
func TestDockerChangesSlowConsumer(t *testing.T) {
	d := needDocker(t)
	sfx := randomSuffix(t)
	pausee, victim := "wwgo-slp-"+sfx, "wwgo-slv-"+sfx
	pauseeID, victimID := d.run(pausee, nil), d.run(victim, nil)
	w := d.watcher(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.Changes(ctx)
	select {
	case <-ch: // what was alive at the start
	case <-time.After(waitFor):
		t.Fatal("no first batch")
	}

	// Not receiving now.
	newID := d.run("wwgo-sln-"+sfx, nil)
	d.docker("pause", pausee)
	d.docker("kill", victim)
	ephemeral := "wwgo-sle-" + sfx
	ephemeralID := d.run(ephemeral, nil)
	d.docker("kill", ephemeral)
	eventually(t, w, func(p *Portfolio) string {
		if p.Container(newID) == nil || p.Container(victimID) != nil || p.Container(ephemeralID) != nil {
			return "not all starts and exits are there"
		}
		if c := p.Container(pauseeID); c == nil || !c.Paused {
			return "not paused"
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond)

	log := collect(ch)
	log.waitFor(t, newID, Started)
	log.waitFor(t, pauseeID, Paused)
	log.waitFor(t, victimID, Exited)
	time.Sleep(500 * time.Millisecond) // anything twice would show now
	for id, want := range map[string][]ChangeKind{newID: {Started}, pauseeID: {Paused}, victimID: {Exited}} {
		if got := kinds(log.of(id)); !reflect.DeepEqual(got, want) {
			t.Errorf("changes of %s: %v, want %v", id, got, want)
		}
	}
	// The short-lived one folded away, unless its start made it into the
	// batch pending before.
	if got := kinds(log.of(ephemeralID)); len(got) != 0 && !reflect.DeepEqual(got, []ChangeKind{Started, Exited}) {
		t.Errorf("changes of the short-lived %s: %v", ephemeralID, got)
	}
	// At most the batch made at the first change, and the rest folded.
	if n := log.batchesWith(newID, pauseeID, victimID, ephemeralID); n > 2 {
		t.Errorf("the changes came in %d batches", n)
	}
}

// Diff on the Go copies says what the library's ww_diff says on the
// snapshots themselves.
func TestDockerDiffAgreesWithTheLibrary(t *testing.T) {
	d := needDocker(t)
	sfx := randomSuffix(t)
	names := map[string]string{}
	which := map[string]string{} // by ID
	for _, n := range []string{"keep", "pause", "rename", "restart", "kill"} {
		names[n] = "wwgo-df-" + n + "-" + sfx
		which[d.run(names[n], map[string]string{projectLabel: "wwgo-df-" + sfx})] = n
	}
	d.docker("pause", names["rename"])
	w := d.watcher(Options{})
	s0 := w.snapshot()
	defer freeSnapshot(s0)

	which[d.run("wwgo-df-new-"+sfx, nil)] = "new"
	d.docker("pause", names["pause"])
	d.docker("unpause", names["rename"])
	d.t.Cleanup(func() { _, _ = d.try("rm", "-f", names["rename"]+"-x") })
	d.docker("rename", names["rename"], names["rename"]+"-x")
	d.docker("restart", "-t", "0", names["restart"])
	d.docker("kill", names["kill"])
	restarted := d.pid(names["restart"])
	eventually(t, w, func(p *Portfolio) string {
		r := p.Container(names["restart"])
		x := p.Container(names["rename"] + "-x")
		if p.Container(names["kill"]) != nil || r == nil || r.PID != restarted || x == nil || x.Paused ||
			p.Container("wwgo-df-new-"+sfx) == nil || !p.Container(names["pause"]).Paused {
			return "not all changes are there"
		}
		return ""
	})
	s1 := w.snapshot()
	defer freeSnapshot(s1)
	p0, p1 := copyPortfolio(s0), copyPortfolio(s1)

	for _, tc := range []struct {
		name     string
		lib, our []Change
	}{
		{"forward", diffC(s0, s1), Diff(p0, p1)},
		{"backward", diffC(s1, s0), Diff(p1, p0)},
		{"from nothing", diffC(nil, s1), Diff(nil, p1)},
		{"same", diffC(s1, s1), Diff(p1, p1)},
	} {
		if !reflect.DeepEqual(tc.lib, tc.our) {
			t.Errorf("%s: ww_diff\n%s\nDiff\n%s", tc.name, dump(tc.lib), dump(tc.our))
		}
	}
	// What changed here is all there (the engine may have other
	// containers, changing meanwhile).
	var ours []string
	for _, c := range Diff(p0, p1) {
		if n, ok := which[c.Container().ID]; ok {
			ours = append(ours, c.Kind.String()+" "+n)
		}
	}
	// By (project, name): "" before the project; kill, new, pause, rename,
	// restart by name.
	want := []string{"exited kill", "exited restart", "started new", "started restart",
		"paused pause", "unpaused rename", "updated rename"}
	if !reflect.DeepEqual(ours, want) {
		t.Errorf("changes %q, want %q", ours, want)
	}
}

func dump(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "  %v: %+v -> %+v\n", c.Kind, c.Before, c.After)
	}
	return b.String()
}

// The records carry image, start time, privileges and pod, as docker
// inspect tells them.
func TestDockerRecordDetails(t *testing.T) {
	d := needDocker(t)
	sfx := randomSuffix(t)
	pod := d.run("wwgo-pod-"+sfx, map[string]string{"io.kubernetes.pod.name": "web-0",
		"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": "uid-" + sfx,
		"io.kubernetes.docker.type": "podsandbox"})
	plain := d.run("wwgo-plain-"+sfx, map[string]string{"io.kubernetes.pod.uid": "no name, no pod"})
	// Privileged containers need all capabilities, which a confined test
	// machine may not grant the engine.
	privName := "wwgo-priv-" + sfx
	d.t.Cleanup(func() { _, _ = d.try("rm", "-f", privName) })
	priv, err := d.try("run", "-d", "--network", "none", "--privileged", "--name", privName,
		"busybox:local", "/bin/sleep", "100000")
	if err != nil {
		if !strings.Contains(err.Error(), "operation not permitted") {
			t.Fatal(err)
		}
		t.Logf("no privileged container on this machine: %v", err)
		priv = ""
	}
	w := d.watcher(Options{})
	p := w.Portfolio()
	c, q := p.Container(pod), p.Container(plain)
	if c == nil || q == nil {
		t.Fatalf("containers missing: %v", p.AllContainers())
	}
	if want := (Pod{Name: "web-0", Namespace: "shop", UID: "uid-" + sfx, Sandbox: true}); c.Pod != want {
		t.Errorf("pod %+v, want %+v", c.Pod, want)
	}
	if q.Pod != (Pod{}) {
		t.Errorf("pod %+v outside pods", q.Pod)
	}
	all := []*Container{c, q}
	if priv != "" {
		x := p.Container(priv)
		if x == nil || !x.Privileged {
			t.Fatalf("privileged container %v", x)
		}
		all = append(all, x)
	}
	for _, x := range all {
		privileged := d.docker("inspect", "-f", "{{.HostConfig.Privileged}}", x.ID) == "true"
		if x.Image != "busybox:local" || x.ImageID != d.imageID(x.ID) || x.Engine != 0 || x.Privileged != privileged ||
			!x.StartedAt.Equal(d.startedAt(x.ID)) || time.Since(x.StartedAt) > time.Hour || time.Until(x.StartedAt) > time.Second {
			t.Errorf("container %+v; docker says privileged %v", *x, privileged)
		}
	}
}

// The same with containerd: a task's start, pause, resume and kill.
func TestContainerdChanges(t *testing.T) {
	c := needContainerd(t)
	w := c.watcher(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := collect(w.Changes(ctx))
	sfx := randomSuffix(t)
	id := "wwgo-ch-" + sfx
	full := c.namespace + "/" + id
	if c.namespace == "default" {
		full = id
	}
	before := time.Now()
	c.run(c.namespace, id, nil)
	pid := c.pid(c.namespace, id)
	after := time.Now()
	x := log.waitFor(t, full, Started)[0]
	checkChange(t, x, full, pid)
	checkStartedBetween(t, x.After.StartedAt, before, after)
	if x.After.Image != busyboxRef || x.After.ImageID != c.imageDigest(c.namespace, busyboxRef) {
		t.Errorf("image %q %q", x.After.Image, x.After.ImageID)
	}
	c.ctr(c.namespace, "tasks", "pause", id)
	log.waitFor(t, full, Started, Paused)
	c.ctr(c.namespace, "tasks", "resume", id)
	log.waitFor(t, full, Started, Paused, Unpaused)
	c.ctr(c.namespace, "tasks", "kill", "-s", "SIGKILL", id)
	for _, x := range log.waitFor(t, full, Started, Paused, Unpaused, Exited) {
		checkChange(t, x, full, pid)
	}
	time.Sleep(300 * time.Millisecond)
	if got := log.of(full); len(got) != 4 {
		t.Errorf("changes %v", got)
	}
}
