package whalewatcher

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestContainerdLifecycle(t *testing.T) {
	c := needContainerd(t)
	w := c.watcher(Options{})
	sfx := randomSuffix(t)
	ns := c.namespace
	id, nick := "wwgo-a-"+sfx, "nick-"+sfx
	project := "wwgo-proj-" + sfx

	p0 := w.Portfolio()
	e := onlyEngine(t, p0)
	if e.Kind != Containerd || e.Type != "containerd.io" || e.Version == "" || e.ID == "" ||
		!strings.HasSuffix(e.Endpoint, c.socket) {
		t.Errorf("engine info %+v", e)
	}
	checkEnginePID(t, e, "containerd")
	checkSynced(t, e)
	// Like the Go original: Version is "<version> <revision>", ID the UUID.
	out := c.ctr(ns, "version")
	server := map[string]string{}
	if i := strings.Index(out, "Server:"); i >= 0 {
		for _, line := range strings.Split(out[i:], "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				server[k] = strings.TrimSpace(v)
			}
		}
	}
	if want := server["Version"] + " " + server["Revision"]; e.Version != want || e.ID != server["UUID"] {
		t.Errorf("engine version %q, ID %q; ctr says %q", e.Version, e.ID, out)
	}

	before := time.Now()
	c.run(ns, id, map[string]string{"nerdctl/name": nick, projectLabel: project})
	pid := c.pid(ns, id)
	after := time.Now()
	full, fullName := ns+"/"+id, ns+"/"+nick
	if ns == "default" {
		full, fullName = id, nick
	}
	p1 := eventually(t, w, func(p *Portfolio) string {
		if p.Container(full) == nil {
			return full + " is not there"
		}
		return ""
	})
	got := *p1.Container(full)
	// The start time comes from the process (in clock ticks): plausible,
	// not exact.
	checkStartedBetween(t, got.StartedAt, before, after)
	want := Container{ID: full, Name: fullName, PID: pid, Project: project, Labels: c.labels(ns, id),
		Image: busyboxRef, ImageID: c.imageDigest(ns, busyboxRef), StartedAt: got.StartedAt}
	if want.Labels["nerdctl/name"] != nick || want.Labels[projectLabel] != project {
		t.Fatalf("ctr reports labels %v", want.Labels)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("container\n got %#v\nwant %#v", got, want)
	}
	if p1.Container(fullName) == nil || p1.Project(project) == nil || !contains(p1.Names(), project) {
		t.Errorf("lookups fail: names %v", p1.Names())
	}
	checkConsistent(t, p1)

	// An exec'd process that ends is not the container's end.
	if out := c.ctr(ns, "tasks", "exec", "--fifo-dir", c.fifos, "--exec-id", "wwgo-exec-"+sfx, id, "/bin/echo", "hello"); out != "hello" {
		t.Errorf("exec printed %q", out)
	}
	stays(t, w, time.Second, func(p *Portfolio) string {
		if x := p.Container(full); x == nil || x.PID != pid {
			return "the container vanished when an exec'd process ended"
		}
		return ""
	})

	c.ctr(ns, "tasks", "pause", id)
	eventually(t, w, func(p *Portfolio) string {
		if x := p.Container(full); x == nil || !x.Paused {
			return "not paused"
		}
		return ""
	})
	c.ctr(ns, "tasks", "resume", id)
	eventually(t, w, func(p *Portfolio) string {
		if x := p.Container(full); x == nil || x.Paused {
			return "still paused"
		}
		return ""
	})

	c.ctr(ns, "tasks", "kill", "-s", "SIGKILL", id)
	p2 := eventually(t, w, func(p *Portfolio) string {
		if p.Container(full) != nil {
			return "still there after SIGKILL"
		}
		return ""
	})
	if p2.Project(project) != nil {
		t.Errorf("project %s outlived its last container", project)
	}
}

// The namespace "default" gives plain IDs; a name without nerdctl/name is
// the ID. A task paused before the watcher starts is seen paused.
func TestContainerdDefaultNamespace(t *testing.T) {
	c := needContainerd(t)
	sfx := randomSuffix(t)
	id, paused := "wwgo-d-"+sfx, "wwgo-dp-"+sfx
	c.run("default", paused, nil)
	c.ctr("default", "tasks", "pause", paused)
	w := c.watcher(Options{})
	if x := w.Portfolio().Container(paused); x == nil || !x.Paused || x.PID != c.pid("default", paused) {
		t.Errorf("paused task after Ready: %v", x)
	}
	c.run("default", id, nil)
	pid := c.pid("default", id)
	p := eventually(t, w, func(p *Portfolio) string {
		if p.Container(id) == nil {
			return id + " is not there"
		}
		return ""
	})
	x := p.Container(id)
	if x.ID != id || x.Name != id || x.PID != pid || x.Project != "" || !reflect.DeepEqual(x.Labels, c.labels("default", id)) {
		t.Errorf("container %+v, want PID %d", *x, pid)
	}
	if got, want := x.String(), "container '"+id+"' with PID "+strconv.Itoa(pid); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	checkConsistent(t, p)
}

func TestContainerdIgnoredNamespaces(t *testing.T) {
	c := needContainerd(t)
	if c.namespace == "default" {
		t.Skip("needs a test namespace other than default")
	}
	all := c.watcher(Options{IgnoredNamespaces: []string{}})
	some := c.watcher(Options{IgnoredNamespaces: []string{c.namespace}})
	sfx := randomSuffix(t)
	inNS, inDefault := "wwgo-i-"+sfx, "wwgo-j-"+sfx
	c.run(c.namespace, inNS, nil)
	c.run("default", inDefault, nil)
	for _, w := range []*Watcher{all, some} {
		eventually(t, w, func(p *Portfolio) string {
			if p.Container(inDefault) == nil {
				return inDefault + " is not there"
			}
			return ""
		})
	}
	eventually(t, all, func(p *Portfolio) string {
		if p.Container(c.namespace+"/"+inNS) == nil {
			return inNS + " is not there"
		}
		return ""
	})
	if x := some.Portfolio().Container(c.namespace + "/" + inNS); x != nil {
		t.Errorf("a container of an ignored namespace is watched: %v", x)
	}
}
