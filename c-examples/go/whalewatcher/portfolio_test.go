package whalewatcher

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchContainers is how many containers the fake engine of the
// benchmarks runs: 5 compose projects of 20.
const benchContainers = 100

// manyDocker is a fake Docker engine (silent: only audits learn of
// changes) running n containers in compose projects of 20, each with three
// labels, and a watcher of it, ready and showing them all, auditing every
// 100 ms when audits is true.
func manyDocker(tb testing.TB, n int, audits bool) (*silentDocker, *Watcher) {
	tb.Helper()
	d := newSilentDocker(tb)
	for i := 0; i < n; i++ {
		d.set(benchID(i), benchContainer(i, false))
	}
	opts := Options{Endpoint: d.endpoint, AuditInterval: AuditsOff}
	if audits {
		opts.AuditInterval = 100 * time.Millisecond
	}
	w := readyWatcher(tb, opts)
	eventually(tb, w, func(p *Portfolio) string {
		if p.ContainerTotal() != n {
			return fmt.Sprintf("%d containers, want %d", p.ContainerTotal(), n)
		}
		return ""
	})
	return d, w
}

func benchID(i int) string { return fmt.Sprintf("%064x", 0xbe7c0000+i) }

func benchContainer(i int, paused bool) silentContainer {
	project := fmt.Sprintf("project-%d", i/20)
	return silentContainer{
		name:   fmt.Sprintf("%s-service-%d", project, i%20),
		pid:    10000 + i,
		paused: paused,
		labels: map[string]string{
			projectLabel:                 project,
			"com.docker.compose.service": fmt.Sprintf("service-%d", i%20),
			"wwgo.bench":                 "yes",
		},
	}
}

// walk reads what a typical consumer reads of every container: name,
// project, PID, and labels (their number and the compose project's), in
// Portfolio order, without allocating.
func walk(pf *Portfolio) int {
	n := 0
	for i, total := 0, pf.ContainerTotal(); i < total; i++ {
		c := pf.ContainerAt(i)
		n += len(c.Name) + len(c.Project) + c.PID + len(c.Labels) + len(c.Labels[projectLabel])
	}
	return n
}

var walkSink int

// Portfolio() and a walk of 100 containers:
//
//   - unchanged: nothing changes between the calls (the cached Portfolio);
//   - changed: each call converts a new generation, in which one container
//     was paused or resumed (and the engine's repairs counted it), from
//     the previous generation's Portfolio;
//   - first: each call converts a snapshot with nothing to share (a
//     watcher's first Portfolio).
func BenchmarkPortfolioWalk(b *testing.B) {
	b.Run("unchanged", func(b *testing.B) {
		_, w := manyDocker(b, benchContainers, false)
		want := walk(w.Portfolio())
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			walkSink = walk(w.Portfolio())
		}
		b.StopTimer()
		if walkSink != want || !strings.HasPrefix(w.Portfolio().Container(benchID(0)).Name, "project-0") {
			b.Fatalf("walked %d, want %d", walkSink, want)
		}
	})

	// Two snapshots of consecutive generations, kept after the watcher
	// (and its audits) are gone.
	d, w := manyDocker(b, benchContainers, true)
	s0 := w.snapshot()
	defer freeSnapshot(s0)
	d.set(benchID(50), benchContainer(50, true))
	eventually(b, w, func(p *Portfolio) string {
		if c := p.Container(benchID(50)); c == nil || !c.Paused {
			return fmt.Sprintf("not paused: %v", c)
		}
		return ""
	})
	s1 := w.snapshot()
	defer freeSnapshot(s1)
	w.Close()
	p0, p1 := convert(s0, nil), convert(s1, nil)
	if got := Diff(p0, p1); len(got) != 1 || got[0].Kind != Paused || p1.Generation <= p0.Generation {
		b.Fatalf("changes %v from generation %d to %d", got, p0.Generation, p1.Generation)
	}

	b.Run("changed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				walkSink = walk(convert(s1, p0))
			} else {
				walkSink = walk(convert(s0, p1))
			}
		}
	})
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			walkSink = walk(convert(s1, nil))
		}
	})
}

// While nothing changes, Portfolio hands out the same *Portfolio, to every
// goroutine, without allocating; a walk of its containers allocates nothing
// either.
func TestPortfolioUnchangedAllocatesNothing(t *testing.T) {
	_, w := manyDocker(t, benchContainers, false)
	p := w.Portfolio()
	want := walk(p)
	if n := testing.AllocsPerRun(1000, func() {
		if q := w.Portfolio(); q != p || walk(q) != want {
			t.Fatalf("generation %d: another Portfolio of generation %d", p.Generation, q.Generation)
		}
	}); n != 0 {
		t.Errorf("%v allocations per Portfolio() and walk", n)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if w.Portfolio() != p {
					t.Error("another Portfolio while nothing changed")
					return
				}
			}
		}()
	}
	wg.Wait()
	checkConsistent(t, p)
}

// A new generation gets a new Portfolio with the change, sharing with the
// previous one what did not change; the previous one stays as it was. It
// equals a Portfolio converted from scratch.
func TestPortfolioSharesWhatDidNotChange(t *testing.T) {
	d, w := manyDocker(t, 60, true)
	s0 := w.snapshot()
	defer freeSnapshot(s0)
	p0 := w.Portfolio()
	if convert(s0, nil).Generation != p0.Generation {
		t.Fatal("a new generation while nothing changed")
	}
	paused, gone, added := benchID(3), benchID(25), benchID(60)
	d.set(paused, benchContainer(3, true))
	d.remove(gone)
	d.set(added, benchContainer(60, false))
	p1 := eventually(t, w, func(p *Portfolio) string {
		if c := p.Container(paused); c == nil || !c.Paused || p.Container(gone) != nil || p.Container(added) == nil {
			return "not all changes are there"
		}
		return ""
	})
	if p1 == p0 || p1.Generation <= p0.Generation {
		t.Fatalf("generation %d after %d", p1.Generation, p0.Generation)
	}
	if got, want := describe(Diff(p0, p1)), "exited "+gone+", started "+added+", paused "+paused; got != want {
		t.Errorf("changes %s, want %s", got, want)
	}
	for i := 0; i < p1.ContainerTotal(); i++ {
		c := p1.ContainerAt(i)
		switch was := p0.Container(c.ID); c.ID {
		case paused:
			if was == c || was.Paused || reflect.ValueOf(was.Labels).Pointer() != reflect.ValueOf(c.Labels).Pointer() {
				t.Errorf("the paused container: %+v, was %+v (a new Container, the old one unchanged, the same labels)", c, was)
			}
		case added:
			if was != nil {
				t.Errorf("the new container was there: %v", was)
			}
		default:
			if was != c {
				t.Errorf("unchanged container %v is another *Container", c)
			}
		}
	}
	if p0.Container(gone) == nil || p0.Container(paused).Paused || p0.ContainerTotal() != 60 || p1.ContainerTotal() != 60 {
		t.Error("the previous Portfolio changed")
	}
	if p1.Project("project-2") != p0.Project("project-2") || p1.Project("project-0") == p0.Project("project-0") ||
		p1.Project("project-3") == nil || p0.Project("project-3") != nil {
		t.Error("projects: the unchanged one is not shared, or a changed one is")
	}
	checkConsistent(t, p0)
	checkConsistent(t, p1)

	// The same generation converted from scratch, and from p0, and from
	// nothing to share.
	s := w.snapshot()
	defer freeSnapshot(s)
	fresh := convert(s, nil)
	if fresh.Generation != p1.Generation {
		t.Fatalf("generation %d after %d", fresh.Generation, p1.Generation)
	}
	if !reflect.DeepEqual(fresh, p1) || !reflect.DeepEqual(convert(s, p0), p1) || !reflect.DeepEqual(convert(s, fresh), p1) {
		t.Errorf("converted anew\n%+v\nshared\n%+v", fresh, p1)
	}
	if w.Portfolio() != p1 {
		t.Error("another Portfolio of the same generation")
	}
	// Backwards, too (not what Portfolio does): the changes undone.
	if back := convert(s0, p1); !reflect.DeepEqual(back, p0) || back.Container(benchID(0)) != p1.Container(benchID(0)) {
		t.Errorf("back to generation %d: %+v", p0.Generation, back)
	}
}

// Goroutines taking Portfolios while generations come and go, and the
// watcher closes: each sees generations only grow, one Portfolio per
// generation, each consistent, and nil once closed.
func TestPortfolioConcurrentlyWhileChanging(t *testing.T) {
	d, w := manyDocker(t, 20, true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // pause and resume a container, seen by the audits
		defer wg.Done()
		for paused := true; ; paused = !paused {
			d.set(benchID(5), benchContainer(5, paused))
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	var seen sync.Map // generation → *Portfolio
	closed := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last *Portfolio
			for {
				select {
				case <-closed:
					if p := w.Portfolio(); p != nil {
						t.Errorf("a Portfolio of generation %d after Close", p.Generation)
					}
					return
				default:
				}
				p := w.Portfolio()
				if p == nil {
					continue // closing
				}
				if walk(p) == 0 || p.ContainerTotal() != 20 {
					t.Errorf("generation %d: %d containers", p.Generation, p.ContainerTotal())
					return
				}
				if last != nil && (p.Generation < last.Generation || p.Generation == last.Generation && p != last) {
					t.Errorf("generation %d (%p) after %d (%p)", p.Generation, p, last.Generation, last)
					return
				}
				if q, _ := seen.LoadOrStore(p.Generation, p); q != p {
					t.Errorf("two Portfolios of generation %d", p.Generation)
					return
				}
				if p != last {
					if msg := consistency(p); msg != "" {
						t.Error(msg)
						return
					}
				}
				last = p
			}
		}()
	}
	time.Sleep(time.Second)
	w.Close()
	close(closed)
	close(stop)
	wg.Wait()
	n := 0
	seen.Range(func(_, _ interface{}) bool { n++; return true })
	if n < 2 {
		t.Errorf("%d generations seen in a second of changes every 150 ms", n)
	}
}

// ContainerTotal and ContainerAt walk what AllContainers and Containers
// list; out of range (any index of a nil Portfolio) they panic.
func TestContainerAt(t *testing.T) {
	a, b, c := ctr(0, "a", 10, ""), ctr(0, "b", 11, "shop"), ctr(0, "c", 12, "shop")
	p := synth(1, []string{"unix:///a"}, c, b, a)
	all := p.AllContainers()
	if p.ContainerTotal() != len(all) {
		t.Fatalf("ContainerTotal %d, AllContainers %v", p.ContainerTotal(), all)
	}
	for i := range all {
		if p.ContainerAt(i) != all[i] {
			t.Errorf("ContainerAt(%d) = %v, want %v", i, p.ContainerAt(i), all[i])
		}
	}
	shop := p.Project("shop")
	if shop.ContainerTotal() != 2 || shop.ContainerAt(0) != b || shop.ContainerAt(1) != c {
		t.Errorf("project %v", shop)
	}
	for _, f := range []func(){
		func() { p.ContainerAt(3) },
		func() { p.ContainerAt(-1) },
		func() { shop.ContainerAt(2) },
		func() { (*Portfolio)(nil).ContainerAt(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic out of range")
				}
			}()
			f()
		}()
	}
}
