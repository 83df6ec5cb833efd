package whalewatcher

import (
	"errors"
	"reflect"
	"testing"
)

func TestContainerStringLikeTheOriginal(t *testing.T) {
	for _, tc := range []struct {
		c    Container
		want string
	}{
		{Container{ID: "1234", Name: "poehser_puhbe", Project: "gnampf", PID: 42},
			"container 'poehser_puhbe'/1234 from project 'gnampf' with PID 42"},
		{Container{ID: "1234", Name: "1234", Project: "gnampf", PID: 42, Paused: true},
			"paused container '1234' from project 'gnampf' with PID 42"},
		{Container{ID: "x", Name: "x", PID: 1}, "container 'x' with PID 1"},
		{Container{ID: "abc", Name: "web", PID: 7, Paused: true},
			"paused container 'web'/abc with PID 7"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if got := (&tc.c).String(); got != tc.want { // also through a pointer
			t.Errorf("(*Container).String() = %q, want %q", got, tc.want)
		}
		if tc.c.ProjectName() != tc.c.Project {
			t.Errorf("ProjectName() = %q", tc.c.ProjectName())
		}
	}
}

func TestComposerProject(t *testing.T) {
	a := &Container{ID: "id-a", Name: "a"}
	b := &Container{ID: "id-b", Name: "b"}
	p := &ComposerProject{Name: "P", containers: []*Container{a, b}}
	if got, want := p.String(), "composer project 'P' with containers: 'a', 'b'"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (&ComposerProject{Name: "Q"}).String(); got != "empty composer project 'Q'" {
		t.Errorf("String() = %q", got)
	}
	if got := p.ContainerNames(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("ContainerNames() = %v", got)
	}
	if p.Container("b") != b || p.Container("id-a") != a || p.Container("c") != nil {
		t.Error("Container(nameorid) finds the wrong one")
	}
	cs := p.Containers()
	cs[0] = nil // a copy: the project is not changed
	if p.Containers()[0] != a {
		t.Error("Containers() hands out the project's own slice")
	}
	if got := (&ComposerProject{}).ContainerNames(); got == nil || len(got) != 0 {
		t.Errorf("empty ContainerNames() = %#v", got)
	}
}

func TestNilPortfolioIsEmpty(t *testing.T) {
	var p *Portfolio
	if n := p.Names(); n == nil || len(n) != 0 {
		t.Errorf("Names() = %#v", n)
	}
	if p.Project("") != nil || p.Container("x") != nil || p.ContainerTotal() != 0 ||
		p.AllContainers() != nil || p.Projects() != nil {
		t.Error("a nil portfolio is not empty")
	}
}

// An Auto watcher that has found no engine hands out a portfolio without
// engines: no projects of any engine, but Project("") is there, empty.
func TestPortfolioWithoutEngines(t *testing.T) {
	p := synth(1, nil)
	if len(p.Engines()) != 0 || len(p.Projects()) != 0 || len(p.Names()) != 0 || p.ContainerTotal() != 0 {
		t.Errorf("portfolio %+v", p)
	}
	if u := p.Project(""); u == nil || u.Engine != -1 || len(u.Containers()) != 0 || u.String() != "empty composer project ''" {
		t.Errorf("unnamed project %+v", u)
	}
	if msg := consistency(p); msg != "" {
		t.Error(msg)
	}
}

func TestStatusesAndErrors(t *testing.T) {
	names := map[Status]string{
		StatusOK: "ok", StatusNullArg: "NULL argument", StatusInvalidArg: "invalid argument",
		StatusTimeout: "timed out", StatusEngine: "engine unreachable or failing, watcher gave up",
		StatusABIMismatch: "ABI mismatch", StatusPanic: "internal panic", StatusInternal: "internal error",
		StatusClosed: "watcher closed", StatusForked: "watcher of the parent process (forked)", Status(99): "unknown status",
	}
	for s, want := range names {
		if s.String() != want {
			t.Errorf("Status(%d).String() = %q, want %q", uint32(s), s.String(), want)
		}
	}
	// The numbers are the ABI's.
	for s, n := range map[Status]uint32{StatusOK: 0, StatusNullArg: 1, StatusInvalidArg: 2, StatusTimeout: 3,
		StatusEngine: 4, StatusABIMismatch: 5, StatusPanic: 6, StatusInternal: 7, StatusClosed: 8, StatusForked: 9} {
		if uint32(s) != n {
			t.Errorf("%v = %d, want %d", s, uint32(s), n)
		}
	}
	err := error(&Error{Status: StatusEngine, Message: "ww_ready: gone"})
	if err.Error() != "whalewatcher: engine unreachable or failing, watcher gave up: ww_ready: gone" {
		t.Errorf("Error() = %q", err.Error())
	}
	if ErrTimeout.Error() != "whalewatcher: timed out" {
		t.Errorf("ErrTimeout.Error() = %q", ErrTimeout.Error())
	}
	if !isStatus(err, ErrEngine) || isStatus(err, ErrTimeout) || isStatus(ErrClosed, ErrEngine) {
		t.Error("errors.Is does not compare statuses")
	}
	if closed := error(&Error{Status: StatusClosed, Message: "ww_wait: closed"}); !errors.Is(closed, ErrClosed) ||
		ErrClosed.Error() != "whalewatcher: watcher closed" {
		t.Errorf("ErrClosed: %v", ErrClosed)
	}
	if forked := error(&Error{Status: StatusForked, Message: "ww_ready: the watcher belongs to the parent process"}); !errors.Is(forked, ErrForked) ||
		errors.Is(forked, ErrClosed) || ErrForked.Error() != "whalewatcher: watcher of the parent process (forked)" {
		t.Errorf("ErrForked: %v", ErrForked)
	}
	if Docker.String() != "docker" || Containerd.String() != "containerd" || Engine(0).String() != "docker" ||
		Engine(9).String() != "Engine(9)" || BackoffConstant.String() != "constant" || Backoff(-1).String() != "Backoff(-1)" {
		t.Error("bad String() of Engine or Backoff")
	}
}

func TestLibraryVersions(t *testing.T) {
	if ABIVersion != 2 || LibraryABIVersion() != ABIVersion {
		t.Errorf("ABI versions: header %d, library %d", ABIVersion, LibraryABIVersion())
	}
	if Version() == "" {
		t.Error("empty Version()")
	}
}
