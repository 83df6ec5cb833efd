package whalewatcher

import (
	"fmt"
	"strings"
)

// Container is one alive container (it has an initial process: it runs or
// is paused), as in the Go original. Containers handed out are never
// changed: a later state (say, paused) comes as a new Container in a new
// Portfolio. Do not modify them, nor their Labels.
type Container struct {
	// ID is the engine's full container ID; for containerd NAMESPACE/ID,
	// or just ID in the namespace "default".
	ID string
	// Name is the user-friendly name: for Docker without the leading '/';
	// for containerd the label nerdctl/name if set, else the ID, namespaced
	// like the ID.
	Name string
	// Labels of the container; never nil.
	Labels map[string]string
	// PID of the container's initial process, in the engine's PID namespace.
	PID int
	// Project is the compose project (label com.docker.compose.project),
	// "" if none.
	Project string
	// Paused is true when the container is paused.
	Paused bool
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
	Name       string
	containers []*Container
}

// Containers returns the project's containers (a fresh slice each call).
func (p *ComposerProject) Containers() []*Container {
	return append([]*Container(nil), p.containers...)
}

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

// EngineInfo tells about the watched engine, as of a Portfolio.
type EngineInfo struct {
	// Type is "docker.com" or "containerd.io".
	Type string
	// ID is the engine's ID, "" until first contact.
	ID string
	// Version is the engine's version, "" until first contact.
	Version string
	// API is the endpoint in use, e.g. "unix:///var/run/docker.sock".
	API string
	// PID is the engine daemon's PID (from a unix socket's peer
	// credentials), 0 if unknown.
	PID int
}

// Portfolio is an immutable copy of the watcher's alive containers at one
// generation, grouped by compose project. It holds only Go memory and is
// safe for concurrent reads; it never changes, so take a new one with
// Watcher.Portfolio to see later changes. All methods are safe on a nil
// *Portfolio (it is empty).
type Portfolio struct {
	// Generation is 0 before the first successful synchronisation, >= 1
	// after, and grows with every change of the tracked state.
	Generation uint64
	// Engine tells about the watched engine.
	Engine EngineInfo

	all      []*Container                // sorted by (project, name, ID)
	projects []*ComposerProject          // [0] is "", then sorted by name
	byName   map[string]*ComposerProject // all of projects
}

// Names returns the names of all projects except the unnamed "" project,
// sorted (the Go original returns them in map order). Never nil.
func (pf *Portfolio) Names() []string {
	if pf == nil {
		return []string{}
	}
	names := make([]string, 0, len(pf.projects))
	for _, p := range pf.projects {
		if p.Name != "" {
			names = append(names, p.Name)
		}
	}
	return names
}

// Project returns the project of that name, or nil if it has no alive
// containers. Project("") is never nil (except on a nil Portfolio).
func (pf *Portfolio) Project(name string) *ComposerProject {
	if pf == nil {
		return nil
	}
	return pf.byName[name]
}

// Projects returns all projects: "" first, then the named ones sorted.
func (pf *Portfolio) Projects() []*ComposerProject {
	if pf == nil {
		return nil
	}
	return append([]*ComposerProject(nil), pf.projects...)
}

// Container returns the first container, in (project, name, ID) order,
// whose name or ID is nameorid, or nil.
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

// ContainerTotal returns the number of alive containers in all projects.
func (pf *Portfolio) ContainerTotal() int {
	if pf == nil {
		return 0
	}
	return len(pf.all)
}

// AllContainers returns all alive containers sorted by (project, name, ID),
// in a fresh slice.
func (pf *Portfolio) AllContainers() []*Container {
	if pf == nil {
		return nil
	}
	return append([]*Container(nil), pf.all...)
}
