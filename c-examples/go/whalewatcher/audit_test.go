package whalewatcher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentDocker is a Docker API whose containers the test sets and whose
// event stream never says a word: only an audit learns what changed. It
// counts the lists it answers.
type silentDocker struct {
	endpoint string
	lists    atomic.Int64

	mu         sync.Mutex
	containers map[string]silentContainer // by ID
}

type silentContainer struct {
	name   string
	pid    int
	paused bool
	labels map[string]string // nil: none
}

func newSilentDocker(t testing.TB) *silentDocker {
	t.Helper()
	d := &silentDocker{containers: map[string]silentContainer{}}
	d.endpoint = fakeDocker(t, d.serve)
	return d
}

func (d *silentDocker) set(id string, c silentContainer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.containers[id] = c
}

func (d *silentDocker) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.containers, id)
}

func (d *silentDocker) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/v1.") {
		path = path[strings.Index(path[1:], "/")+1:]
	}
	state := func(c silentContainer) string {
		if c.paused {
			return "paused"
		}
		return "running"
	}
	labels := func(c silentContainer) map[string]string {
		if c.labels == nil {
			return map[string]string{}
		}
		return c.labels
	}
	if path != "/containers/json" && !strings.HasPrefix(path, "/containers/") {
		fakeDockerAPI(w, r) // an event stream that stays silent
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var reply interface{}
	switch {
	case path == "/containers/json":
		d.lists.Add(1)
		list := []map[string]interface{}{}
		for id, c := range d.containers {
			list = append(list, map[string]interface{}{"Id": id, "Names": []string{"/" + c.name}, "State": state(c),
				"Image": "busybox:local", "Labels": labels(c)})
		}
		reply = list
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
		c, ok := d.containers[id]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			http.Error(w, `{"message":"No such container: `+id+`"}`, http.StatusNotFound)
			return
		}
		reply = map[string]interface{}{
			"Id":   id,
			"Name": "/" + c.name,
			"State": map[string]interface{}{"Status": state(c), "Running": true, "Paused": c.paused, "Pid": c.pid,
				"StartedAt": "2025-01-02T03:04:05.000000006Z"},
			"Image":      "sha256:" + strings.Repeat("0", 64),
			"Config":     map[string]interface{}{"Image": "busybox:local", "Labels": labels(c)},
			"HostConfig": map[string]interface{}{"Privileged": false},
		}
	default:
		http.Error(w, `{"message":"not here"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// An audit repairs what the events never said, and counts each repair in
// Repairs: a container that started, paused and went away unannounced.
// Without audits nothing is learnt and nothing listed after the sync; the
// default interval (60 s) lists nothing more within a second either.
func TestAuditsRepairWhatTheEventsMissed(t *testing.T) {
	audited, off, byDefault := newSilentDocker(t), newSilentDocker(t), newSilentDocker(t)
	wa := readyWatcher(t, Options{Endpoint: audited.endpoint, AuditInterval: 100 * time.Millisecond})
	wo := readyWatcher(t, Options{Endpoint: off.endpoint, AuditInterval: AuditsOff})
	wd := readyWatcher(t, Options{Endpoint: byDefault.endpoint})
	id := strings.Repeat("5ca1ab1e", 8)
	for _, d := range []*silentDocker{audited, off, byDefault} {
		d.set(id, silentContainer{name: "wwgo-silent", pid: 4242})
	}

	repaired := func(want int, what func(c *Container) string) func(p *Portfolio) string {
		return func(p *Portfolio) string {
			e := onlyEngine(t, p)
			if e.State != Synced || e.LastError != "" {
				return fmt.Sprintf("engine %+v", e)
			}
			if why := what(p.Container(id)); why != "" {
				return why
			}
			if e.Repairs != uint64(want) {
				return fmt.Sprintf("%d repairs, want %d", e.Repairs, want)
			}
			return ""
		}
	}
	eventually(t, wa, repaired(1, func(c *Container) string {
		if c == nil || c.Name != "wwgo-silent" || c.PID != 4242 || c.Paused {
			return fmt.Sprintf("the container started unannounced: %+v", c)
		}
		return ""
	}))
	audited.set(id, silentContainer{name: "wwgo-silent", pid: 4242, paused: true})
	eventually(t, wa, repaired(2, func(c *Container) string {
		if c == nil || !c.Paused {
			return fmt.Sprintf("the container paused unannounced: %+v", c)
		}
		return ""
	}))
	audited.remove(id)
	eventually(t, wa, repaired(3, func(c *Container) string {
		if c != nil {
			return fmt.Sprintf("the container gone unannounced is there: %+v", c)
		}
		return ""
	}))
	if n := audited.lists.Load(); n < 4 {
		t.Errorf("%d lists with an audit every 100 ms", n)
	}

	unchanged := func(p *Portfolio) string {
		if e := onlyEngine(t, p); e.State != Synced || e.Repairs != 0 || p.ContainerTotal() != 0 {
			return fmt.Sprintf("engine %+v, containers %v", e, p.AllContainers())
		}
		return ""
	}
	stays(t, wo, time.Second, unchanged)
	stays(t, wd, 100*time.Millisecond, unchanged)
	if n := off.lists.Load(); n != 1 {
		t.Errorf("%d lists without audits, want the sync's one", n)
	}
	if n := byDefault.lists.Load(); n != 1 {
		t.Errorf("%d lists within a second of the default audit interval, want the sync's one", n)
	}
}

// Audits of a healthy engine disturb nothing: auditing every second, the
// watcher stays synchronised without trouble and sees each change of a
// container (start, pause, resume, removal) as a watcher without audits
// does, and while nothing changes on the engine its audits repair nothing.
// (An audit that lists while the event of a change is still on its way
// counts that change among the repairs: Repairs is checked over quiet
// spells, those in which the watcher without audits saw no new generation.)
func TestDockerAuditsFindNothingToRepair(t *testing.T) {
	d := needDocker(t)
	audited := d.watcher(Options{AuditInterval: time.Second})
	off := d.watcher(Options{AuditInterval: AuditsOff})
	healthy := func(p *Portfolio) string {
		if e := onlyEngine(t, p); e.State != Synced || e.LastError != "" {
			return fmt.Sprintf("engine %+v", e)
		}
		return ""
	}
	// quiet checks that the watcher stays healthy for a while, with at
	// least one audit, and repairs nothing if nothing changed meanwhile.
	quiet := func(within time.Duration) {
		t.Helper()
		gen, repairs := off.Portfolio().Generation, onlyEngine(t, audited.Portfolio()).Repairs
		stays(t, audited, within, healthy)
		now := onlyEngine(t, audited.Portfolio()).Repairs
		if off.Portfolio().Generation != gen {
			t.Logf("the engine changed meanwhile (%d repairs): not a quiet spell", now-repairs)
		} else if now != repairs {
			t.Errorf("%d repairs of a healthy engine while nothing changed", now-repairs)
		}
	}
	if e := onlyEngine(t, audited.Portfolio()); e.Repairs != 0 {
		t.Errorf("repairs after the first synchronisation: %+v", e)
	}
	quiet(1200 * time.Millisecond)
	shows := func(id string, alive, paused bool) func(p *Portfolio) string {
		return func(p *Portfolio) string {
			c := p.Container(id)
			if (c != nil) != alive || c != nil && c.Paused != paused {
				return fmt.Sprintf("container %v, want alive %v, paused %v", c, alive, paused)
			}
			return healthy(p)
		}
	}
	name := "wwgo-audit-" + randomSuffix(t)
	id := d.run(name, nil)
	for _, step := range []struct {
		docker        []string
		alive, paused bool
	}{
		{nil, true, false},
		{[]string{"pause", name}, true, true},
		{[]string{"unpause", name}, true, false},
		{[]string{"rm", "-f", name}, false, false},
	} {
		if step.docker != nil {
			d.docker(step.docker...)
		}
		for _, w := range []*Watcher{audited, off} {
			eventually(t, w, shows(id, step.alive, step.paused))
		}
		quiet(1200 * time.Millisecond)
	}
	t.Logf("%d repairs in all", onlyEngine(t, audited.Portfolio()).Repairs)
}
