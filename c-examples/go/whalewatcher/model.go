package whalewatcher

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Container is one alive container (it has an initial process: it runs or
// is paused), as in the Go original, with what libwhalewatcher adds.
// Containers handed out are never changed: a later state (say, paused)
// comes as a new Container in a new Portfolio. They are shared, between
// every caller of Watcher.Portfolio and from one generation's Portfolio to
// the next while unchanged (the same *Container): read them, but never
// modify them, nor their Labels map, which would change them for everyone.
type Container struct {
	// ID is the engine's full container ID; for containerd NAMESPACE/ID,
	// or just ID in the namespace "default".
	ID string
	// Name is the user-friendly name: for Docker and podman without the
	// leading '/'; for containerd the label nerdctl/name if set, else the
	// ID, namespaced like the ID; for CRI the container's name in its pod
	// (a sandbox goes by its pod's name).
	Name string
	// Labels of the container; never nil. Shared and read only (it may be
	// the map of the container's earlier Container, too).
	Labels map[string]string
	// PID of the container's initial process, in the engine's PID namespace.
	PID int
	// Project is the compose project (label com.docker.compose.project),
	// "" if none.
	Project string
	// Paused is true when the container is paused.
	Paused bool
	// Image is the image reference as the engine names it (Docker: as
	// given to `docker run`; containerd and CRI: the container's image
	// name), "" if unknown.
	Image string
	// ImageID is the content-addressed image ID or digest (Docker: the
	// image ID "sha256:..."; containerd: the digest the image name resolved
	// to when the watcher first saw the container), "" if unknown.
	ImageID string
	// StartedAt is when the container's current initial process started;
	// the zero time if unknown.
	StartedAt time.Time
	// Privileged is true when the container runs privileged (Docker:
	// HostConfig.Privileged); false if unknown.
	Privileged bool
	// Pod is the Kubernetes pod the container belongs to; the zero Pod
	// outside pods.
	Pod Pod
	// Engine is the index into the Engines of the Portfolio the container
	// came from (for a Change: of the Portfolio it is in) of the engine
	// running it.
	Engine int
}

// Pod tells which Kubernetes pod a container belongs to (from CRI, or from
// the labels Kubernetes' runtimes put on pod containers, e.g. containerd's
// namespace "k8s.io"), or which podman pod. All zero outside pods.
type Pod struct {
	// Name is the pod's name (label io.kubernetes.pod.name); "" outside pods.
	Name string
	// Namespace is the pod's Kubernetes namespace.
	Namespace string
	// UID is the pod's UID.
	UID string
	// Sandbox is true for the pod's sandbox (Kubernetes) or infra (podman)
	// container.
	Sandbox bool
}

// ProjectName returns the container's compose project name, "" if none.
func (c Container) ProjectName() string { return c.Project }

// String formats exactly like the Go original, e.g.
// "paused container 'web'/1234abcd from project 'shop' with PID 42"; the
// "/ID" part only when the name differs from the ID.
func (c Container) String() string {
	paused := ""
	if c.Paused {
		paused = "paused "
	}
	id := ""
	if c.Name != c.ID {
		id = "/" + c.ID
	}
	pinfo := ""
	if c.Project != "" {
		pinfo = fmt.Sprintf("from project '%s' ", c.Project)
	}
	return fmt.Sprintf("%scontainer '%s'%s %swith PID %d", paused, c.Name, id, pinfo, c.PID)
}

// ComposerProject is a compose project and its alive containers, sorted by
// name, then ID. The project "" holds all containers without a project.
type ComposerProject struct {
	Name string
	// Engine is the index into Portfolio.Engines of the engine the project
	// belongs to: projects are per engine. It is -1 for a project that
	// Portfolio.Project merged from the projects of that name of several
	// engines (only with several engines), and for the empty unnamed
	// project of a Portfolio without engines (an Auto watcher that found
	// none).
	Engine     int
	containers []*Container
}

// Containers returns the project's containers (a fresh slice each call;
// ContainerTotal and ContainerAt walk them without one).
func (p *ComposerProject) Containers() []*Container {
	return append([]*Container(nil), p.containers...)
}

// ContainerTotal returns the number of the project's containers.
func (p *ComposerProject) ContainerTotal() int { return len(p.containers) }

// ContainerAt returns the project's i-th container, in the order of
// Containers; it panics unless 0 <= i < ContainerTotal().
func (p *ComposerProject) ContainerAt(i int) *Container { return p.containers[i] }

// ContainerNames returns the names of the project's containers, in the
// order of Containers.
func (p *ComposerProject) ContainerNames() []string {
	names := make([]string, 0, len(p.containers))
	for _, c := range p.containers {
		names = append(names, c.Name)
	}
	return names
}

// Container returns the first container of the project whose name or ID
// is nameorid, or nil.
func (p *ComposerProject) Container(nameorid string) *Container {
	for _, c := range p.containers {
		if c.Name == nameorid || c.ID == nameorid {
			return c
		}
	}
	return nil
}

// String formats like the Go original: "composer project 'P' with
// containers: 'a', 'b'" or "empty composer project 'P'".
func (p *ComposerProject) String() string {
	if len(p.containers) == 0 {
		return fmt.Sprintf("empty composer project '%s'", p.Name)
	}
	return fmt.Sprintf("composer project '%s' with containers: '%s'",
		p.Name, strings.Join(p.ContainerNames(), "', '"))
}

// EngineState is where a watcher stands with one engine.
type EngineState uint32

// The engine states (WW_ENGINE_STATE_*).
const (
	// Connecting: not synchronised yet; the engine's containers are not
	// shown yet.
	Connecting EngineState = 0
	// Synced: following the engine's events; its containers are current.
	Synced EngineState = 1
	// Resyncing: lost the engine; its last synchronised containers are
	// shown while the watcher reconnects.
	Resyncing EngineState = 2
	// GaveUp: no retries left; the last synchronised containers are shown
	// and no longer change.
	GaveUp EngineState = 3
)

// String returns "connecting", "synced", "resyncing", "gave up", or
// "EngineState(N)".
func (s EngineState) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Synced:
		return "synced"
	case Resyncing:
		return "resyncing"
	case GaveUp:
		return "gave up"
	}
	return "EngineState(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// EngineInfo tells about one engine of a watcher, as of a Portfolio: its
// identity and where the watcher stands with it.
type EngineInfo struct {
	// Kind is Docker, Containerd, CRI or Podman (never Auto: an Auto
	// watcher's engines are of their own kinds).
	Kind Engine
	// Type is "docker.com", "containerd.io", "podman.io" or
	// "k8s.io/cri-api".
	Type string
	// ID is the engine's ID, "" until first contact (containerd: the
	// server UUID; podman, which has none: "HOST:GRAPHROOT", its host name
	// and storage root, the same across restarts; CRI: the host's name).
	ID string
	// Version is the engine's version, "" until first contact
	// (containerd: "VERSION REVISION"; CRI: "RUNTIME VERSION").
	Version string
	// Endpoint is the endpoint in use, e.g. "unix:///var/run/docker.sock".
	Endpoint string
	// PID is the PID, in this process' PID namespace, of the process
	// listening on the engine's unix socket (the engine itself unless the
	// socket was handed to it or belongs to a proxy); 0 if unknown (TCP,
	// or before first contact).
	PID int
	// State is where the watcher stands with the engine.
	State EngineState
	// SyncedAt is when the last synchronisation completed; the zero time
	// if none did.
	SyncedAt time.Time
	// LastError is the latest engine trouble, "" if none since the last
	// synchronisation.
	LastError string
	// Repairs counts how often an audit (Options.AuditInterval) found the
	// watcher's picture of this engine differing from the engine's own
	// (a container missed, gone unnoticed, restarted, paused or resumed
	// unnoticed) and repaired it. It only grows, also across reconnects;
	// with a healthy engine and event stream it stays 0.
	Repairs uint64
}

// Portfolio is an immutable copy of a watcher's alive containers at one
// generation, grouped by engine and compose project. It holds only Go
// memory and is safe for concurrent reads; it never changes, so take a new
// one with Watcher.Portfolio to see later changes. All methods are safe on
// a nil *Portfolio (it is empty).
//
// Portfolios are shared: Watcher.Portfolio hands the same *Portfolio to
// every caller until the generation changes, and the next one shares the
// Containers and ComposerProjects that did not change. The slices its
// methods return are fresh copies, the caller's to change; the Containers,
// their Labels and the ComposerProjects they point to are everyone's and
// must not be modified. ContainerTotal with ContainerAt (also on a
// ComposerProject) walk the containers without allocating.
//
// Projects are per engine. Names, Project and Container give the Go
// original's view, one engine or several alike: Names lists each project
// name once, Project(name) holds the containers of that project name on
// every engine, and Container finds the first match in (engine, project,
// name, ID) order. With one engine (the common case) they are exactly that
// engine's projects; Projects lists every engine's projects on their own.
type Portfolio struct {
	// Generation grows with every published change: a container started,
	// exited, was paused, resumed or changed, or an engine's state or last
	// error changed. 0 is the state right after New (every engine
	// connecting).
	Generation uint64

	engines  []EngineInfo
	all      []*Container                // sorted by (engine, project, name, ID)
	projects []*ComposerProject          // per engine: "", then the named ones sorted
	byName   map[string]*ComposerProject // by name, merged over the engines
	names    []string                    // the named projects' names, sorted
}

// newPortfolio makes a Portfolio of its engines, its containers in
// (engine, project, name, ID) order and its projects: per engine in engine
// order, its "" project, then its named ones by name.
func newPortfolio(generation uint64, engines []EngineInfo, all []*Container, projects []*ComposerProject) *Portfolio {
	pf := &Portfolio{
		Generation: generation,
		engines:    engines,
		all:        all,
		projects:   projects,
		byName:     make(map[string]*ComposerProject, len(projects)),
	}
	for _, p := range projects {
		have := pf.byName[p.Name]
		switch {
		case have == nil:
			pf.byName[p.Name] = p
			if p.Name != "" {
				pf.names = append(pf.names, p.Name)
			}
		case len(p.containers) == 0:
			// Nothing to add (an engine's empty unnamed project).
		case len(have.containers) == 0:
			pf.byName[p.Name] = p
		default:
			// The same name on several engines: one project holding them
			// all, in engine order.
			merged := &ComposerProject{Name: p.Name, Engine: -1}
			merged.containers = append(append([]*Container(nil), have.containers...), p.containers...)
			pf.byName[p.Name] = merged
		}
	}
	if pf.byName[""] == nil {
		// No engine (an Auto watcher that found none): Project("") is
		// still there, empty, but belongs to no engine.
		pf.byName[""] = &ComposerProject{Engine: -1}
	}
	sort.Strings(pf.names)
	return pf
}

// Engines returns the watcher's engines, in engine order: Container.Engine
// and ComposerProject.Engine index it. An engine keeps its index for the
// watcher's life (an Auto watcher's engine that is gone stays, given up).
// There is at least one, except for an Auto watcher that has found none. A
// fresh slice each call.
func (pf *Portfolio) Engines() []EngineInfo {
	if pf == nil {
		return nil
	}
	return append([]EngineInfo(nil), pf.engines...)
}

// Names returns the names of all projects except the unnamed "" project,
// sorted, each once even if several engines have it (the Go original
// returns them in map order). Never nil.
func (pf *Portfolio) Names() []string {
	if pf == nil {
		return []string{}
	}
	return append(make([]string, 0, len(pf.names)), pf.names...)
}

// Project returns the project of that name, or nil if no engine has alive
// containers in it. Project("") is never nil (except on a nil Portfolio).
// With several engines having containers in a project of that name, the
// result holds them all, in engine order, and its Engine is -1.
func (pf *Portfolio) Project(name string) *ComposerProject {
	if pf == nil {
		return nil
	}
	return pf.byName[name]
}

// Projects returns all projects: per engine, in engine order, its unnamed
// project "" (maybe empty), then its named projects sorted by name. With
// one engine: "" first, then the named ones sorted; without engines, none.
func (pf *Portfolio) Projects() []*ComposerProject {
	if pf == nil {
		return nil
	}
	return append([]*ComposerProject(nil), pf.projects...)
}

// Container returns the first container, in (engine, project, name, ID)
// order, whose name or ID is nameorid, or nil.
func (pf *Portfolio) Container(nameorid string) *Container {
	if pf == nil {
		return nil
	}
	for _, c := range pf.all {
		if c.Name == nameorid || c.ID == nameorid {
			return c
		}
	}
	return nil
}

// ContainerTotal returns the number of alive containers of all engines.
func (pf *Portfolio) ContainerTotal() int {
	if pf == nil {
		return 0
	}
	return len(pf.all)
}

// ContainerAt returns the i-th of all alive containers, in the order of
// AllContainers, without allocating; it panics unless 0 <= i <
// ContainerTotal().
func (pf *Portfolio) ContainerAt(i int) *Container {
	var all []*Container
	if pf != nil {
		all = pf.all
	}
	return all[i]
}

// AllContainers returns all alive containers sorted by (engine, project,
// name, ID), in a fresh slice.
func (pf *Portfolio) AllContainers() []*Container {
	if pf == nil {
		return nil
	}
	return append([]*Container(nil), pf.all...)
}
