package whalewatcher

/*
#include <whalewatcher.h>
*/
import "C"

import (
	"bytes"
	"strings"
	"time"
	"unsafe"
)

// The conversion of C snapshots into Go values. A Portfolio is made once
// per generation (Watcher.Portfolio caches it), and shares with the
// Portfolio of the previous generation every Go value whose C counterpart
// is unchanged, found by comparing contents: a container is matched by
// (engine, project, name, ID), the order of both lists, then compared
// field by field and label by label; a project by (engine, name) and its
// containers. Nothing of the snapshot is kept (the header promises nothing
// about records shared between snapshots), and only the Go copies of what
// changed are new.

// emptyPortfolio is what a first conversion shares with: nothing.
var emptyPortfolio = &Portfolio{}

// convert makes the Portfolio of the C snapshot p, which it reads only
// during the call, sharing the unchanged Go values of prev, a Portfolio of
// an earlier generation (nil: none).
func convert(p *C.ww_portfolio, prev *Portfolio) *Portfolio {
	if prev == nil {
		prev = emptyPortfolio
	}
	engines := convertEngines(cslice(p.engines, p.engines_len), prev.engines)
	all := convertContainers(cslice(p.containers, p.containers_len), prev.all)
	projects, same := convertProjects(p, all, prev.projects)
	if same && prev.byName != nil {
		// The same projects: the same merged view of them.
		return &Portfolio{Generation: uint64(p.generation), engines: engines, all: all, projects: projects,
			byName: prev.byName, names: prev.names}
	}
	return newPortfolio(uint64(p.generation), engines, all, projects)
}

// copyPortfolio makes a Portfolio of C snapshot p sharing nothing.
func copyPortfolio(p *C.ww_portfolio) *Portfolio { return convert(p, nil) }

// convertEngines returns the engines ces: old itself when they are all
// unchanged, else new EngineInfos, with old's strings where equal.
func convertEngines(ces []C.ww_engine_info, old []EngineInfo) []EngineInfo {
	if len(ces) == len(old) {
		same := true
		for i := range ces {
			if !sameEngine(&ces[i], &old[i]) {
				same = false
				break
			}
		}
		if same {
			return old
		}
	}
	engines := make([]EngineInfo, len(ces))
	for i := range ces {
		var was EngineInfo
		if i < len(old) {
			was = old[i]
		}
		engines[i] = copyEngine(&ces[i], &was)
	}
	return engines
}

func sameEngine(e *C.ww_engine_info, g *EngineInfo) bool {
	return Engine(e.kind) == g.Kind && EngineState(e.state) == g.State && int(e.pid) == g.PID &&
		uint64(e.repairs) == g.Repairs && sameTime(int64(e.synced_at_ns), g.SyncedAt) &&
		eqC(e._type, g.Type) && eqC(e.id, g.ID) && eqC(e.version, g.Version) &&
		eqC(e.endpoint, g.Endpoint) && eqC(e.last_error, g.LastError)
}

// copyEngine copies e, taking was' strings where they are equal.
func copyEngine(e *C.ww_engine_info, was *EngineInfo) EngineInfo {
	return EngineInfo{
		Kind:      Engine(e.kind),
		Type:      gostr(e._type, was.Type),
		ID:        gostr(e.id, was.ID),
		Version:   gostr(e.version, was.Version),
		Endpoint:  gostr(e.endpoint, was.Endpoint),
		PID:       int(e.pid),
		State:     EngineState(e.state),
		SyncedAt:  unixNano(int64(e.synced_at_ns)),
		LastError: gostr(e.last_error, was.LastError),
		Repairs:   uint64(e.repairs),
	}
}

// convertContainers returns the containers ccs, in their order: old's
// *Container where unchanged, else a new one (sharing what it can of the
// old one of the same engine, project, name and ID). When they are old's,
// in old's order, the result is (a prefix of) old itself.
func convertContainers(ccs []C.ww_container, old []*Container) []*Container {
	var all []*Container // nil while the containers so far are old's
	j := 0               // the first of old that may still match
	for i := range ccs {
		c := &ccs[i]
		var was *Container
		if j < len(old) && sameKey(c, old[j]) {
			was = old[j] // the common case: where it was
			j++
		} else {
			// Both lists are sorted by (engine, project, name, ID).
			engine, project, name, id := int(c.engine), cstr(c.project), cstr(c.name), cstr(c.id)
			for j < len(old) && before(old[j], engine, project, name, id) {
				j++
			}
			if j < len(old) && old[j].Engine == engine && old[j].Project == project && old[j].Name == name && old[j].ID == id {
				was = old[j]
				j++
			}
		}
		ct := was
		if was == nil || !sameContainer(c, was) {
			ct = copyContainer(c, was)
		}
		if all == nil {
			if i < len(old) && old[i] == ct {
				continue
			}
			all = make([]*Container, len(ccs))
			copy(all, old[:i])
		}
		all[i] = ct
	}
	if all == nil {
		return old[:len(ccs):len(ccs)]
	}
	return all
}

// sameKey is true when c has g's engine, project, name and ID.
func sameKey(c *C.ww_container, g *Container) bool {
	return int(c.engine) == g.Engine && eqC(c.id, g.ID) && eqC(c.name, g.Name) && eqC(c.project, g.Project)
}

// before is true when g comes before the container (engine, project,
// name, id) in portfolio order.
func before(g *Container, engine int, project, name, id string) bool {
	switch {
	case g.Engine != engine:
		return g.Engine < engine
	case g.Project != project:
		return g.Project < project
	case g.Name != name:
		return g.Name < name
	}
	return g.ID < id
}

// sameContainer is true when g is a copy of c, whose engine, project, name
// and ID are g's already.
func sameContainer(c *C.ww_container, g *Container) bool {
	return int(c.pid) == g.PID && bool(c.paused) == g.Paused && bool(c.privileged) == g.Privileged &&
		bool(c.pod_sandbox) == g.Pod.Sandbox && sameTime(int64(c.started_at_ns), g.StartedAt) &&
		eqC(c.image, g.Image) && eqC(c.image_id, g.ImageID) && eqC(c.pod_name, g.Pod.Name) &&
		eqC(c.pod_namespace, g.Pod.Namespace) && eqC(c.pod_uid, g.Pod.UID) && sameLabels(c, g.Labels)
}

// sameLabels is true when the labels of c are exactly m.
func sameLabels(c *C.ww_container, m map[string]string) bool {
	labels := cslice(c.labels, c.labels_len)
	if len(labels) != len(m) {
		return false
	}
	prev := ""
	for i := range labels {
		k := cstr(labels[i].key)
		// Sorted by key; strictly, or there are duplicates, which a map of
		// as many entries cannot hold.
		if i > 0 && k <= prev {
			return false
		}
		if v, ok := m[k]; !ok || !eqC(labels[i].value, v) {
			return false
		}
		prev = k
	}
	return true
}

// sameTime is true when t is unixNano(ns).
func sameTime(ns int64, t time.Time) bool {
	if ns == 0 {
		return t.IsZero()
	}
	return !t.IsZero() && t.UnixNano() == ns
}

// copyContainer copies c into a new Container, taking the strings and
// labels of was (nil: none) where they are equal.
func copyContainer(c *C.ww_container, was *Container) *Container {
	var old Container
	if was != nil {
		old = *was
	}
	ct := &Container{
		ID:         gostr(c.id, old.ID),
		Name:       gostr(c.name, old.Name),
		Project:    gostr(c.project, old.Project),
		PID:        int(c.pid),
		Paused:     bool(c.paused),
		Image:      gostr(c.image, old.Image),
		ImageID:    gostr(c.image_id, old.ImageID),
		StartedAt:  unixNano(int64(c.started_at_ns)),
		Privileged: bool(c.privileged),
		Pod: Pod{
			Name:      gostr(c.pod_name, old.Pod.Name),
			Namespace: gostr(c.pod_namespace, old.Pod.Namespace),
			UID:       gostr(c.pod_uid, old.Pod.UID),
			Sandbox:   bool(c.pod_sandbox),
		},
		Engine: int(c.engine),
	}
	if was != nil && sameLabels(c, was.Labels) {
		ct.Labels = was.Labels // read only, as every Container
		return ct
	}
	labels := cslice(c.labels, c.labels_len)
	ct.Labels = make(map[string]string, len(labels))
	for i := range labels {
		ct.Labels[labelKey(labels[i].key)] = gostr(labels[i].value, "")
	}
	return ct
}

// labelKey is label key p in Go memory: for a well-known key the string
// constant, shared by every container's Labels and by the constants of the
// program's code (the linker keeps one copy of equal string constants), so
// that looking it up with a constant compares no bytes; else a copy.
func labelKey(p *C.char) string {
	switch k := cstr(p); k {
	case "com.docker.compose.project":
		return "com.docker.compose.project"
	case "com.docker.compose.service":
		return "com.docker.compose.service"
	case "com.docker.compose.container-number":
		return "com.docker.compose.container-number"
	case "com.docker.compose.oneoff":
		return "com.docker.compose.oneoff"
	case "com.docker.compose.version":
		return "com.docker.compose.version"
	case "com.docker.compose.config-hash":
		return "com.docker.compose.config-hash"
	case "com.docker.compose.depends_on":
		return "com.docker.compose.depends_on"
	case "com.docker.compose.image":
		return "com.docker.compose.image"
	case "com.docker.compose.project.working_dir":
		return "com.docker.compose.project.working_dir"
	case "com.docker.compose.project.config_files":
		return "com.docker.compose.project.config_files"
	case "io.kubernetes.pod.name":
		return "io.kubernetes.pod.name"
	case "io.kubernetes.pod.namespace":
		return "io.kubernetes.pod.namespace"
	case "io.kubernetes.pod.uid":
		return "io.kubernetes.pod.uid"
	case "io.kubernetes.container.name":
		return "io.kubernetes.container.name"
	case "io.kubernetes.docker.type":
		return "io.kubernetes.docker.type"
	case "io.cri-containerd.kind":
		return "io.cri-containerd.kind"
	case "nerdctl/name":
		return "nerdctl/name"
	default:
		return strings.Clone(k)
	}
}

// convertProjects returns the projects of p, whose containers are all (in
// p's order): old's *ComposerProject where its name, engine and containers
// are unchanged, else a new one. same is true when the result is old.
func convertProjects(p *C.ww_portfolio, all []*Container, old []*ComposerProject) (projects []*ComposerProject, same bool) {
	cps := cslice(p.projects, p.projects_len)
	j := 0 // the first of old that may still match
	for i := range cps {
		cp := &cps[i]
		engine, name := int(cp.engine), cstr(cp.name)
		containers := sharedContainers(p, cp, all)
		// Both lists are sorted by engine, then name ("" first).
		for j < len(old) && (old[j].Engine < engine || old[j].Engine == engine && old[j].Name < name) {
			j++
		}
		var pr *ComposerProject
		if j < len(old) && old[j].Engine == engine && old[j].Name == name {
			if samePointers(old[j].containers, containers) {
				pr = old[j]
			} else {
				pr = &ComposerProject{Name: old[j].Name, Engine: engine, containers: containers}
			}
			j++
		} else {
			pr = &ComposerProject{Name: strings.Clone(name), Engine: engine, containers: containers}
		}
		if projects == nil {
			if i < len(old) && old[i] == pr {
				continue
			}
			projects = make([]*ComposerProject, len(cps))
			copy(projects, old[:i])
		}
		projects[i] = pr
	}
	if projects == nil {
		return old[:len(cps):len(cps)], len(cps) == len(old)
	}
	return projects, false
}

func samePointers(a, b []*Container) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sharedContainers returns the Go copies of a project's containers: the
// project's C array is a slice of the portfolio's, so it maps to a slice of
// all. Should it not be, they are copied on their own.
func sharedContainers(p *C.ww_portfolio, proj *C.ww_project, all []*Container) []*Container {
	n := int(proj.containers_len)
	if n == 0 {
		return nil
	}
	size := unsafe.Sizeof(C.ww_container{})
	base := uintptr(unsafe.Pointer(p.containers))
	at := uintptr(unsafe.Pointer(proj.containers))
	if base != 0 && at >= base && (at-base)%size == 0 {
		if i := int((at - base) / size); i+n <= len(all) {
			return all[i : i+n : i+n]
		}
	}
	ccs := cslice(proj.containers, proj.containers_len)
	out := make([]*Container, len(ccs))
	for i := range ccs {
		out[i] = copyContainer(&ccs[i], nil)
	}
	return out
}

// unixNano is the time of Unix nanoseconds ns, the zero time for 0.
func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// gostr is C string p in Go memory: have if equal, else a copy.
func gostr(p *C.char, have string) string {
	if eqC(p, have) {
		return have
	}
	return strings.Clone(cstr(p))
}

// page is a size no architecture Go supports has smaller pages of: a read
// within the page of a byte of a C string cannot fault.
const page = 4096

// eqC is true when C string p is s. When s and its NUL would lie within
// the page where p starts, it compares them at once, with no look for the
// NUL first (what it reads beyond a shorter string's NUL, the page holds,
// and s differs before that anyway); else it views p (cstr) to compare.
func eqC(p *C.char, s string) bool {
	n := len(s)
	if int(uintptr(unsafe.Pointer(p))%page)+n < page {
		b := unsafe.Slice((*byte)(unsafe.Pointer(p)), n+1)
		return b[n] == 0 && string(b[:n]) == s
	}
	return cstr(p) == s
}

// cstr views C string p as a Go string without copying it: only to compare
// while the C memory lives, never to keep.
func cstr(p *C.char) string {
	n := cstrlen(unsafe.Pointer(p))
	if n == 0 {
		return ""
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
	return *(*string)(unsafe.Pointer(&b))
}

// cstrlen is strlen(p). As the runtime's C.GoString does, it looks for the
// NUL a page-bounded chunk at a time, so it reads no page that the string
// does not reach into.
func cstrlen(p unsafe.Pointer) int {
	n := 0
	for {
		at := unsafe.Add(p, n)
		chunk := page - int(uintptr(at)%page)
		if i := bytes.IndexByte(unsafe.Slice((*byte)(at), chunk), 0); i >= 0 {
			return n + i
		}
		n += chunk
	}
}

// cslice views a C array (NULL when empty) as a Go slice, valid only while
// the C memory is.
func cslice[T any](p *T, n C.size_t) []T {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(p, int(n))
}
