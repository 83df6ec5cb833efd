package whalewatcher

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// synth makes a portfolio as the library would: its engines (by endpoint)
// and containers (Engine set), sorted by (engine, project, name, ID), and
// per engine its "" project, then its named ones.
func synth(gen uint64, endpoints []string, cs ...*Container) *Portfolio {
	engines := make([]EngineInfo, len(endpoints))
	for i, ep := range endpoints {
		engines[i] = EngineInfo{Kind: Docker, Type: "docker.com", Endpoint: ep, State: Synced}
	}
	all := append([]*Container(nil), cs...)
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Engine != b.Engine {
			return a.Engine < b.Engine
		}
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	var projects []*ComposerProject
	for e := range endpoints {
		unnamed := &ComposerProject{Name: "", Engine: e}
		projects = append(projects, unnamed)
		var cur *ComposerProject
		for _, c := range all {
			switch {
			case c.Engine != e:
			case c.Project == "":
				unnamed.containers = append(unnamed.containers, c)
			default:
				if cur == nil || cur.Name != c.Project {
					cur = &ComposerProject{Name: c.Project, Engine: e}
					projects = append(projects, cur)
				}
				cur.containers = append(cur.containers, c)
			}
		}
	}
	return newPortfolio(gen, engines, all, projects)
}

func ctr(engine int, id string, pid int, project string) *Container {
	labels := map[string]string{}
	if project != "" {
		labels[projectLabel] = project
	}
	return &Container{ID: id, Name: "n-" + id, PID: pid, Project: project, Labels: labels, Engine: engine,
		Image: "busybox:local", StartedAt: time.Unix(0, int64(pid)*1e9)}
}

// with returns a copy of c changed by f.
func with(c *Container, f func(c *Container)) *Container {
	d := *c
	d.Labels = map[string]string{}
	for k, v := range c.Labels {
		d.Labels[k] = v
	}
	f(&d)
	return &d
}

// describe formats changes as "KIND ID" each, for comparisons.
func describe(changes []Change) string {
	var out []string
	for _, c := range changes {
		if (c.Kind == Started) != (c.Before == nil) || (c.Kind == Exited) != (c.After == nil) {
			return fmt.Sprintf("malformed %+v", c)
		}
		out = append(out, c.Kind.String()+" "+c.Container().ID)
	}
	return strings.Join(out, ", ")
}

func TestDiffKindsAndOrder(t *testing.T) {
	eps := []string{"unix:///a"}
	a := ctr(0, "a", 10, "")     // unchanged
	b := ctr(0, "b", 11, "shop") // paused
	c := ctr(0, "c", 12, "")     // new incarnation
	d := ctr(0, "d", 13, "shop") // exited
	f := ctr(0, "f", 14, "")     // renamed and resumed
	g := ctr(0, "g", 15, "")     // labels changed
	h := ctr(0, "h", 16, "zoo")  // start time changed, same PID
	i := ctr(0, "i", 17, "")     // image ID changed
	j := ctr(0, "j", 18, "")     // pod and privileges changed
	k := ctr(0, "k", 19, "zoo")  // new incarnation, sorting after d
	f = with(f, func(x *Container) { x.Paused = true })
	from := synth(1, eps, a, b, c, d, f, g, h, i, j, k)

	b2 := with(b, func(x *Container) { x.Paused = true })
	c2 := with(c, func(x *Container) { x.PID = 99 })
	e := ctr(0, "e", 20, "")
	f2 := with(f, func(x *Container) { x.Paused = false; x.Name = "renamed" })
	g2 := with(g, func(x *Container) { x.Labels["new"] = "label" })
	h2 := with(h, func(x *Container) { x.StartedAt = x.StartedAt.Add(time.Second) })
	i2 := with(i, func(x *Container) { x.ImageID = "sha256:other" })
	j2 := with(j, func(x *Container) { x.Pod.Name = "p"; x.Privileged = true })
	k2 := with(k, func(x *Container) { x.PID = 98 })
	to := synth(2, eps, a, b2, c2, e, f2, g2, h2, i2, j2, k2)

	got := Diff(from, to)
	// Exits by (project, name, ID) of from, starts by that of to, then the
	// rest by that of to: "" before "shop" before "zoo"; renamed sorts last
	// in "".
	want := "exited c, exited d, exited k, started c, started e, started k, " +
		"updated g, updated i, updated j, unpaused f, updated f, paused b, updated h"
	if describe(got) != want {
		t.Errorf("Diff\n got %s\nwant %s", describe(got), want)
	}
	for _, ch := range got {
		switch {
		case ch.Kind == Exited && ch.Before.ID == "c":
			if ch.Before.PID != 12 {
				t.Errorf("old incarnation %+v", ch.Before)
			}
		case ch.Kind == Started && ch.After.ID == "c":
			if ch.After.PID != 99 {
				t.Errorf("new incarnation %+v", ch.After)
			}
		case ch.Kind == Updated && ch.After.ID == "f":
			// Before as from has it (paused), After as to has it.
			if ch.Before.Name != "n-f" || ch.After.Name != "renamed" || !ch.Before.Paused || ch.After.Paused {
				t.Errorf("update of f: %+v -> %+v", ch.Before, ch.After)
			}
		}
		if ch.Before != nil && from.Container(ch.Before.ID) != ch.Before {
			t.Errorf("Before of %v does not point into from", ch)
		}
		if ch.After != nil && to.Container(ch.After.ID) != ch.After {
			t.Errorf("After of %v does not point into to", ch)
		}
	}

	if d := Diff(from, from); d != nil {
		t.Errorf("Diff(p, p) = %s", describe(d))
	}
	if d := Diff(nil, nil); d != nil {
		t.Errorf("Diff(nil, nil) = %v", d)
	}
	if got, want := describe(Diff(nil, to)), "started a, started c, started e, started g, started i, started j, started f, started b, started h, started k"; got != want {
		t.Errorf("Diff(nil, to)\n got %s\nwant %s", got, want)
	}
	if got, want := describe(Diff(to, nil)), "exited a, exited c, exited e, exited g, exited i, exited j, exited f, exited b, exited h, exited k"; got != want {
		t.Errorf("Diff(to, nil)\n got %s\nwant %s", got, want)
	}
}

// Engines are matched by endpoint, not by index: the same ID on another
// engine is another container.
func TestDiffMatchesEnginesByEndpoint(t *testing.T) {
	x0, y1 := ctr(0, "x", 10, ""), ctr(1, "y", 20, "")
	from := synth(1, []string{"unix:///a", "unix:///b"}, x0, y1)
	// The same engines in the other order, with the same containers.
	swapped := synth(1, []string{"unix:///b", "unix:///a"},
		with(x0, func(c *Container) { c.Engine = 1 }), with(y1, func(c *Container) { c.Engine = 0 }))
	if d := Diff(from, swapped); d != nil {
		t.Errorf("reordered engines: %s", describe(d))
	}
	// x moves to another engine: it exited on one and started on the other.
	moved := synth(2, []string{"unix:///a", "unix:///b"}, y1, with(x0, func(c *Container) { c.Engine = 1 }))
	d := Diff(from, moved)
	if describe(d) != "exited x, started x" || d[0].Before.Engine != 0 || d[1].After.Engine != 1 {
		t.Errorf("moved: %s", describe(d))
	}
	// Engine b is gone, c is new.
	other := synth(3, []string{"unix:///a", "unix:///c"}, x0, ctr(1, "y", 20, ""))
	if got := describe(Diff(from, other)); got != "exited y, started y" {
		t.Errorf("replaced engine: %s", got)
	}
}

// Several engines: Names lists each name once, Project merges a name's
// projects of all engines, Container finds the lowest engine's first.
func TestPortfolioOfSeveralEngines(t *testing.T) {
	a := ctr(0, "a", 1, "shop")
	b := ctr(1, "b", 2, "shop")
	c := ctr(1, "c", 3, "")
	d := ctr(1, "d", 4, "zoo")
	dup0, dup1 := ctr(0, "dup", 5, "alpha"), ctr(1, "dup", 6, "")
	p := synth(7, []string{"unix:///a", "unix:///b"}, a, b, c, d, dup0, dup1)

	if got := p.Names(); !reflect.DeepEqual(got, []string{"alpha", "shop", "zoo"}) {
		t.Errorf("Names() = %v", got)
	}
	shop := p.Project("shop")
	if shop == nil || shop.Engine != -1 || !reflect.DeepEqual(shop.ContainerNames(), []string{"n-a", "n-b"}) {
		t.Errorf("merged project %+v", shop)
	}
	if zoo := p.Project("zoo"); zoo == nil || zoo.Engine != 1 || zoo.Container("d") != d {
		t.Errorf("project of one engine %+v", zoo)
	}
	// Only engine 1's unnamed project has containers.
	if u := p.Project(""); u == nil || u.Engine != 1 || !reflect.DeepEqual(u.ContainerNames(), []string{"n-c", "n-dup"}) {
		t.Errorf("unnamed project %+v", u)
	}
	if p.Container("dup") != dup0 || p.Container("n-dup") != dup0 {
		t.Error("Container does not find the lowest engine's")
	}
	var per []string
	for _, pr := range p.Projects() {
		per = append(per, fmt.Sprintf("%d:%s=%d", pr.Engine, pr.Name, len(pr.Containers())))
	}
	if got, want := strings.Join(per, " "), "0:=0 0:alpha=1 0:shop=1 1:=2 1:shop=1 1:zoo=1"; got != want {
		t.Errorf("Projects() %s, want %s", got, want)
	}
	if len(p.Engines()) != 2 || p.Engines()[1].Endpoint != "unix:///b" || p.ContainerTotal() != 6 {
		t.Errorf("engines %+v", p.Engines())
	}
	// One engine: the view is exactly that engine's.
	one := synth(1, []string{"unix:///a"}, a, ctr(0, "e", 8, ""))
	if one.Project("shop") != one.Projects()[1] || one.Project("") != one.Projects()[0] || one.Project("").Engine != 0 {
		t.Error("a single engine's projects are not the view")
	}
}

func TestKindAndStateNames(t *testing.T) {
	for k, want := range map[ChangeKind]string{Started: "started", Exited: "exited", Paused: "paused",
		Unpaused: "unpaused", Updated: "updated", ChangeKind(9): "ChangeKind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", uint32(k), k.String(), want)
		}
	}
	for s, want := range map[EngineState]string{Connecting: "connecting", Synced: "synced", Resyncing: "resyncing",
		GaveUp: "gave up", EngineState(7): "EngineState(7)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", uint32(s), s.String(), want)
		}
	}
	c := Change{Kind: Paused, Before: &Container{ID: "x", Name: "x", PID: 3},
		After: &Container{ID: "x", Name: "x", PID: 3, Paused: true}}
	if got := c.String(); got != "paused: paused container 'x' with PID 3" {
		t.Errorf("String() = %q", got)
	}
	if got := (Change{Kind: Exited, Before: c.Before}).String(); got != "exited: container 'x' with PID 3" {
		t.Errorf("String() = %q", got)
	}
}
