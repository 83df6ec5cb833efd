package whalewatcher

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
)

// A podman watcher: the engine as podman tells it, the containers that ran
// before it was ready with their PIDs, and a container's life seen through
// Changes.
func TestPodmanContainers(t *testing.T) {
	p := needPodman(t)
	sfx := randomSuffix(t)
	project, name := "wwgo-pm-"+sfx, "wwgo-pm-"+sfx
	id := p.run(name, map[string]string{projectLabel: project, "wwgo.test": "podman"})
	pid := p.pid(id)

	w := p.watcher(Options{})
	pf := w.Portfolio()
	e := onlyEngine(t, pf)
	if e.Kind != Podman || e.Kind.String() != "podman" || e.Type != "podman.io" || e.Endpoint != p.endpoint {
		t.Errorf("engine %+v", e)
	}
	if v := p.podman("version", "-f", "{{.Server.Version}}"); e.Version != v {
		t.Errorf("engine version %q, podman says %q", e.Version, v)
	}
	// podman has no engine ID (its Docker-compatible /info makes up a new
	// one on every call): its host name and storage root stand for it.
	if id := p.podman("info", "-f", "{{.Host.Hostname}}:{{.Store.GraphRoot}}"); e.ID != id {
		t.Errorf("engine ID %q, podman says %q", e.ID, id)
	}
	if host, root, ok := strings.Cut(e.ID, ":"); !ok || host == "" || !strings.HasPrefix(root, "/") {
		t.Errorf("engine ID %q is not HOST:PATH", e.ID)
	} else if me, err := os.Hostname(); err == nil && host != me {
		t.Errorf("engine ID %q, on host %q", e.ID, me)
	}
	// The same for another watcher, on another connection.
	if again := onlyEngine(t, p.watcher(Options{}).Portfolio()); again.ID != e.ID {
		t.Errorf("engine ID %q, then %q", e.ID, again.ID)
	}
	checkEnginePID(t, e, "podman")
	checkSynced(t, e)

	// The fixture's container, and ours: there once ready.
	if c := pf.Container(p.fixtureID); c == nil || c.PID != p.fixturePID || c.Engine != 0 {
		t.Errorf("the podman fixture container %s (PID %d): %+v", p.fixtureID, p.fixturePID, c)
	}
	c := pf.Container(name)
	if c == nil {
		t.Fatalf("%s missing: %v", name, pf.AllContainers())
	}
	if c.ID != id || c.PID != pid || c.Project != project || c.Paused || c.Pod != (Pod{}) ||
		c.Labels[projectLabel] != project || c.Labels["wwgo.test"] != "podman" {
		t.Errorf("container %+v; want ID %s, PID %d, project %s", *c, id, pid, project)
	}
	if c.Image != "localhost/busybox:local" {
		t.Errorf("image %q", c.Image)
	}
	if imageID := p.podman("inspect", "-f", "{{.Image}}", id); !strings.HasSuffix(c.ImageID, imageID) {
		t.Errorf("image ID %q, podman says %q", c.ImageID, imageID)
	}
	if got := pf.Project(project); got == nil || !reflect.DeepEqual(got.ContainerNames(), []string{name}) {
		t.Errorf("project %v", got)
	}
	checkConsistent(t, pf)

	// Paused, resumed and removed, as Changes tells it.
	log := collect(w.Changes(context.Background()))
	log.waitFor(t, id, Started)
	p.podman("pause", name)
	log.waitFor(t, id, Started, Paused)
	p.podman("unpause", name)
	log.waitFor(t, id, Started, Paused, Unpaused)
	p.podman("rm", "-f", "-t", "0", name)
	for _, ch := range log.waitFor(t, id, Started, Paused, Unpaused, Exited) {
		checkChange(t, ch, id, pid)
	}
	if ch := log.of(id)[1]; !ch.After.Paused || ch.Before.Paused {
		t.Errorf("pause: %v", ch)
	}
	if w.Portfolio().Container(id) != nil {
		t.Error("the removed container is still there")
	}
}
