package whalewatcher

import (
	"fmt"
	"strings"
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
// project, PID, and labels (their number and the compose project's).
func walk(pf *Portfolio) int {
	n := 0
	for _, c := range pf.AllContainers() {
		n += len(c.Name) + len(c.Project) + c.PID + len(c.Labels) + len(c.Labels[projectLabel])
	}
	return n
}

var walkSink int

// Portfolio() and a walk of 100 containers while nothing changes.
func BenchmarkPortfolioWalk(b *testing.B) {
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
}
