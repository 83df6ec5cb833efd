package whalewatcher

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const projectLabel = "com.docker.compose.project"

func TestDockerSeesContainersStartedBeforeReady(t *testing.T) {
	d := needDocker(t)
	sfx := randomSuffix(t)
	name, paused := "wwgo-pre-"+sfx, "wwgo-prepaused-"+sfx
	id := d.run(name, map[string]string{projectLabel: "wwgo-pre-" + sfx, "wwgo": "yes", "wwgo.empty": "", "wwgo.ütf8": "ünïcødé ✓"})
	pid := d.pid(id)
	pausedID := d.run(paused, nil)
	d.docker("pause", paused)

	w := d.watcher(Options{})
	// Ready means synchronised: no waiting needed for containers that were
	// already running (or paused).
	p := w.Portfolio()
	c := p.Container(name)
	if c == nil {
		t.Fatalf("ready, but %s is missing: %v", name, p.AllContainers())
	}
	wantLabels := map[string]string{projectLabel: "wwgo-pre-" + sfx, "wwgo": "yes", "wwgo.empty": "", "wwgo.ütf8": "ünïcødé ✓"}
	if c.ID != id || c.PID != pid || c.Project != "wwgo-pre-"+sfx || c.Paused || !reflect.DeepEqual(c.Labels, wantLabels) {
		t.Errorf("container %#v; want ID %s, PID %d, labels %v", c, id, pid, wantLabels)
	}
	if c := p.Container(pausedID); c == nil || !c.Paused || c.PID != d.pid(pausedID) {
		t.Errorf("paused container %v", c)
	}
	if p.Generation < 1 {
		t.Errorf("generation %d after Ready", p.Generation)
	}
	checkConsistent(t, p)
}

// A container whose process ends by itself goes away, too.
func TestDockerShortLivedContainer(t *testing.T) {
	d := needDocker(t)
	w := d.watcher(Options{})
	name := "wwgo-short-" + randomSuffix(t)
	d.t.Cleanup(func() { _, _ = d.try("rm", "-f", name) })
	id := d.docker("run", "-d", "--network", "none", "--name", name, "busybox:local", "/bin/sleep", "1")
	eventually(t, w, func(p *Portfolio) string {
		if p.Container(id) != nil {
			return "the exited container is still there"
		}
		if d.docker("inspect", "-f", "{{.State.Running}}", id) != "false" {
			return "still running"
		}
		return ""
	})
}

func TestDockerLifecycle(t *testing.T) {
	d := needDocker(t)
	w := d.watcher(Options{})
	sfx := randomSuffix(t)
	project := "wwgo-proj-" + sfx
	nameA, nameB := "wwgo-a-"+sfx, "wwgo-b-"+sfx

	// Engine info, as the docker CLI tells it.
	p0 := w.Portfolio()
	e := onlyEngine(t, p0)
	if e.Kind != Docker || e.Type != "docker.com" || e.Endpoint != d.endpoint {
		t.Errorf("engine info %+v", e)
	}
	if v := d.docker("version", "-f", "{{.Server.Version}}"); e.Version != v {
		t.Errorf("engine version %q, docker says %q", e.Version, v)
	}
	if id := d.docker("info", "-f", "{{.ID}}"); e.ID != id {
		t.Errorf("engine ID %q, docker says %q", e.ID, id)
	}
	if strings.HasPrefix(d.endpoint, "unix://") {
		checkEnginePID(t, e, "dockerd")
	}
	checkSynced(t, e)
	if p0.Project(project) != nil {
		t.Fatal("project exists before its containers")
	}

	idA := d.run(nameA, map[string]string{projectLabel: project, "wwgo.test": "a=b c"})
	idB := d.run(nameB, nil)
	pidA, pidB := d.pid(idA), d.pid(idB)

	p1 := eventually(t, w, func(p *Portfolio) string {
		if p.Container(idA) == nil || p.Container(idB) == nil {
			return "the new containers are not there"
		}
		return ""
	})
	if p1.Generation <= p0.Generation {
		t.Errorf("generation %d did not grow from %d", p1.Generation, p0.Generation)
	}
	a, b := p1.Container(nameA), p1.Container(nameB)
	if !a.StartedAt.Equal(d.startedAt(idA)) {
		t.Errorf("container A started at %v, docker says %v", a.StartedAt, d.startedAt(idA))
	}
	wantA := Container{ID: idA, Name: nameA, PID: pidA, Project: project,
		Labels: map[string]string{projectLabel: project, "wwgo.test": "a=b c"},
		Image:  "busybox:local", ImageID: d.imageID(idA), StartedAt: a.StartedAt}
	if !strings.HasPrefix(wantA.ImageID, "sha256:") {
		t.Errorf("docker says image ID %q", wantA.ImageID)
	}
	if !reflect.DeepEqual(*a, wantA) {
		t.Errorf("container A\n got %+v\nwant %+v", *a, wantA)
	}
	if b.ID != idB || b.Name != nameB || b.PID != pidB || b.Project != "" || b.Labels == nil || len(b.Labels) != 0 ||
		b.Image != "busybox:local" || b.ImageID != a.ImageID || !b.StartedAt.Equal(d.startedAt(idB)) {
		t.Errorf("container B %+v; want ID %s PID %d", *b, idB, pidB)
	}
	if got, want := a.String(), fmt.Sprintf("container '%s'/%s from project '%s' with PID %d", nameA, idA, project, pidA); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !contains(p1.Names(), project) || contains(p1.Names(), "") || !sort.StringsAreSorted(p1.Names()) {
		t.Errorf("Names() = %v", p1.Names())
	}
	proj := p1.Project(project)
	if proj == nil || !reflect.DeepEqual(proj.ContainerNames(), []string{nameA}) || proj.Container(idA) != a || proj.Container(nameB) != nil {
		t.Fatalf("project %v", proj)
	}
	if p1.Project("").Container(nameB) != b || p1.Project("").Container(nameA) != nil {
		t.Error("B is not (only) in the unnamed project")
	}
	checkConsistent(t, p1)

	// An exec'd process that ends is not the container's end.
	if out := d.docker("exec", nameA, "/bin/echo", "hello"); out != "hello" {
		t.Errorf("exec printed %q", out)
	}
	stays(t, w, time.Second, func(p *Portfolio) string {
		if p.Container(idA) == nil {
			return "the container vanished when an exec'd process ended"
		}
		return ""
	})

	// Pause and unpause.
	d.docker("pause", nameA)
	p2 := eventually(t, w, func(p *Portfolio) string {
		if c := p.Container(idA); c == nil || !c.Paused {
			return "A is not paused"
		}
		return ""
	})
	if got := p2.Container(idA).String(); !strings.HasPrefix(got, "paused container '"+nameA+"'") {
		t.Errorf("String() = %q", got)
	}
	if a.Paused || p1.Container(idA).Paused {
		t.Error("an older portfolio changed")
	}
	d.docker("unpause", nameA)
	eventually(t, w, func(p *Portfolio) string {
		if c := p.Container(idA); c == nil || c.Paused || c.PID != pidA {
			return "A is not running again"
		}
		return ""
	})

	// Kill: A and its project disappear; B stays.
	d.docker("kill", nameA)
	p3 := eventually(t, w, func(p *Portfolio) string {
		if p.Container(idA) != nil {
			return "A is still there"
		}
		return ""
	})
	if p3.Project(project) != nil || contains(p3.Names(), project) {
		t.Errorf("project %s outlived its last container: %v", project, p3.Names())
	}
	if p3.Container(idB) == nil {
		t.Error("B is gone too")
	}
	if p1.Project(project) == nil || p1.Container(idA) == nil {
		t.Error("an older portfolio changed")
	}

	// A stopped (exited) container is not alive either.
	d.docker("stop", "-t", "0", nameB)
	eventually(t, w, func(p *Portfolio) string {
		if p.Container(idB) != nil {
			return "B is still there"
		}
		return ""
	})
	// Restarting it brings it back, with a new PID.
	d.docker("start", nameB)
	newPID := d.pid(idB)
	eventually(t, w, func(p *Portfolio) string {
		if c := p.Container(idB); c == nil || c.PID != newPID {
			return "B is not back with PID " + strconv.Itoa(newPID)
		}
		return ""
	})
}

// Portfolio from many goroutines at once while containers come and go;
// every portfolio must be consistent, and generations never go back.
func TestDockerConcurrentPortfolios(t *testing.T) {
	d := needDocker(t)
	w := d.watcher(Options{})
	sfx := randomSuffix(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := w.Portfolio()
				if p.Generation < last {
					t.Errorf("generation went back from %d to %d", last, p.Generation)
					return
				}
				last = p.Generation
				if msg := consistency(p); msg != "" {
					t.Error(msg)
					return
				}
				for _, c := range p.AllContainers() {
					if strings.HasSuffix(c.Name, sfx) {
						mu.Lock()
						seen[c.Name] = true
						mu.Unlock()
					}
				}
				if n%16 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	var names []string
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("wwgo-conc%d-%s", i, sfx)
		names = append(names, name)
		d.run(name, map[string]string{projectLabel: "wwgo-conc-" + sfx})
	}
	eventually(t, w, func(p *Portfolio) string {
		if pr := p.Project("wwgo-conc-" + sfx); pr == nil || len(pr.Containers()) != 3 {
			return "not all 3 containers are there"
		} else if !reflect.DeepEqual(pr.ContainerNames(), names) {
			return fmt.Sprintf("names %v, want them sorted: %v", pr.ContainerNames(), names)
		}
		return ""
	})
	d.docker(append([]string{"kill"}, names...)...)
	eventually(t, w, func(p *Portfolio) string {
		if p.Project("wwgo-conc-"+sfx) != nil {
			return "the project is still there"
		}
		return ""
	})
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Errorf("the readers saw %v", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// consistency checks a portfolio's invariants; "" if they hold.
func consistency(p *Portfolio) string {
	if p.Project("") == nil {
		return "no unnamed project"
	}
	// Per engine, in engine order: its unnamed project, then its named
	// ones by name.
	projects := p.Projects()
	engines := len(p.Engines())
	byName := map[string][]*ComposerProject{}
	next := 0 // the engine whose unnamed project comes next
	for i, pr := range projects {
		switch {
		case pr.Name == "":
			if pr.Engine != next {
				return fmt.Sprintf("unnamed project of engine %d where engine %d's belongs: %v", pr.Engine, next, projects)
			}
			next++
		case pr.Engine != next-1 || projects[i-1].Name >= pr.Name && projects[i-1].Name != "":
			return fmt.Sprintf("project %q of engine %d out of order: %v", pr.Name, pr.Engine, projects)
		}
		byName[pr.Name] = append(byName[pr.Name], pr)
	}
	if next != engines {
		return fmt.Sprintf("%d unnamed projects of %d engines: %v", next, engines, projects)
	}
	named := len(byName)
	if _, ok := byName[""]; ok {
		named--
	}
	if names := p.Names(); len(names) != named || !sort.StringsAreSorted(names) {
		return fmt.Sprintf("projects %v, names %v", projects, p.Names())
	}
	total := 0
	for _, pr := range projects {
		if pr.Name != "" && len(pr.Containers()) == 0 {
			return "empty named project " + pr.Name
		}
		if len(byName[pr.Name]) == 1 && p.Project(pr.Name) != pr {
			return "Project(" + pr.Name + ") is another one"
		}
		for _, c := range pr.Containers() {
			if c.Project != pr.Name || c.Engine != pr.Engine || c.PID <= 0 || c.ID == "" || c.Name == "" || c.Labels == nil {
				return fmt.Sprintf("bad container %+v in project %q of engine %d", c, pr.Name, pr.Engine)
			}
			if c.Project != "" && c.Labels[projectLabel] != c.Project {
				return fmt.Sprintf("project label of %+v", c)
			}
		}
		total += len(pr.Containers())
	}
	if total != p.ContainerTotal() || len(p.AllContainers()) != total {
		return fmt.Sprintf("ContainerTotal %d, but %d in projects", p.ContainerTotal(), total)
	}
	return ""
}

// checkEnginePID checks that the engine's PID is a process named comm (when
// this process can see it).
func checkEnginePID(t *testing.T, e EngineInfo, comm string) {
	t.Helper()
	if e.PID <= 0 {
		t.Errorf("no engine PID for a unix socket: %+v", e)
		return
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(e.PID) + "/comm"); err == nil && strings.TrimSpace(string(b)) != comm {
		t.Errorf("engine PID %d is %q, not %s", e.PID, strings.TrimSpace(string(b)), comm)
	}
}

func checkConsistent(t *testing.T, p *Portfolio) {
	t.Helper()
	if msg := consistency(p); msg != "" {
		t.Error(msg)
	}
}
