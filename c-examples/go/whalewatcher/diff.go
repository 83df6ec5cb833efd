package whalewatcher

import (
	"sort"
	"strconv"
)

// ChangeKind is how a container changed between two portfolios.
type ChangeKind uint32

// The kinds of change (WW_CHANGE_*).
const (
	// Started: in the later portfolio only, or a new incarnation (same
	// engine and ID, another PID). Change.After is set.
	Started ChangeKind = 1
	// Exited: in the earlier portfolio only, or the old incarnation.
	// Change.Before is set.
	Exited ChangeKind = 2
	// Paused: paused in the later portfolio, not in the earlier one.
	Paused ChangeKind = 3
	// Unpaused: paused in the earlier portfolio, not in the later one.
	Unpaused ChangeKind = 4
	// Updated: the same incarnation with another name, project, labels or
	// other details (image, start time, privileges, pod).
	Updated ChangeKind = 5
)

// String returns "started", "exited", "paused", "unpaused", "updated", or
// "ChangeKind(N)".
func (k ChangeKind) String() string {
	switch k {
	case Started:
		return "started"
	case Exited:
		return "exited"
	case Paused:
		return "paused"
	case Unpaused:
		return "unpaused"
	case Updated:
		return "updated"
	}
	return "ChangeKind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// Change is one change of one container. Before is the container as the
// earlier portfolio has it (nil for Started), After as the later one has it
// (nil for Exited); both are set for the other kinds. Their Engine indexes
// the Engines of their own portfolio.
type Change struct {
	Kind   ChangeKind
	Before *Container
	After  *Container
}

// Container returns the container the change is about: After, or Before
// for Exited.
func (c Change) Container() *Container {
	if c.After != nil {
		return c.After
	}
	return c.Before
}

// String formats as the kind and the container, e.g. "paused: paused
// container 'web'/1234abcd with PID 42".
func (c Change) String() string {
	if ct := c.Container(); ct != nil {
		return c.Kind.String() + ": " + ct.String()
	}
	return c.Kind.String()
}

// Diff returns what changed from portfolio from to portfolio to; a nil from
// is the empty portfolio (everything in to Started). The portfolios may
// come from different watchers: engines are matched by endpoint.
//
// It is the library's ww_diff, on the Go copies: a container is the same in
// both when its engine's endpoint and its ID are the same and its PID is
// unchanged; otherwise the old one Exited and the new one Started. A
// container both paused (or resumed) and otherwise changed gets two
// changes, the pause first. Order: every Exited first, then every Started,
// then the rest, each group in portfolio order, by (engine, project, name,
// ID). Before and After point into from and to. Nil when nothing changed.
func Diff(from, to *Portfolio) []Change {
	type key struct{ endpoint, id string }
	endpoint := func(pf *Portfolio, c *Container) string {
		if c.Engine >= 0 && c.Engine < len(pf.engines) {
			return pf.engines[c.Engine].Endpoint
		}
		return ""
	}
	before := make(map[key]int, from.ContainerTotal()) // index in from.all
	if from != nil {
		for i, c := range from.all {
			before[key{endpoint(from, c), c.ID}] = i
		}
	}
	seen := make([]bool, from.ContainerTotal())
	var exited, started, rest []Change
	var exitedAt []int // index in from.all, of each exited
	if to != nil {
		for _, t := range to.all {
			fi, ok := before[key{endpoint(to, t), t.ID}]
			if !ok {
				started = append(started, Change{Kind: Started, After: t})
				continue
			}
			seen[fi] = true
			f := from.all[fi]
			if f.PID != t.PID {
				exited = append(exited, Change{Kind: Exited, Before: f})
				exitedAt = append(exitedAt, fi)
				started = append(started, Change{Kind: Started, After: t})
				continue
			}
			if f.Paused != t.Paused {
				kind := Unpaused
				if t.Paused {
					kind = Paused
				}
				rest = append(rest, Change{Kind: kind, Before: f, After: t})
			}
			if !sameDetails(f, t) {
				rest = append(rest, Change{Kind: Updated, Before: f, After: t})
			}
		}
	}
	for fi, s := range seen {
		if !s {
			exited = append(exited, Change{Kind: Exited, Before: from.all[fi]})
			exitedAt = append(exitedAt, fi)
		}
	}
	// Started and rest are in the order of to already (a pause before the
	// update of the same container); exited are not in the order of from.
	sort.Sort(byIndex{exited, exitedAt})
	if len(exited)+len(started)+len(rest) == 0 {
		return nil
	}
	out := make([]Change, 0, len(exited)+len(started)+len(rest))
	return append(append(append(out, exited...), started...), rest...)
}

// byIndex sorts changes by their index.
type byIndex struct {
	changes []Change
	at      []int
}

func (b byIndex) Len() int           { return len(b.changes) }
func (b byIndex) Less(i, j int) bool { return b.at[i] < b.at[j] }
func (b byIndex) Swap(i, j int) {
	b.changes[i], b.changes[j] = b.changes[j], b.changes[i]
	b.at[i], b.at[j] = b.at[j], b.at[i]
}

// sameDetails is true when a and b, the same incarnation of a container,
// have the same details, the paused state and the engine index aside.
func sameDetails(a, b *Container) bool {
	if a.ID != b.ID || a.PID != b.PID || a.Name != b.Name || a.Project != b.Project ||
		a.Image != b.Image || a.ImageID != b.ImageID || !a.StartedAt.Equal(b.StartedAt) ||
		a.Privileged != b.Privileged || a.Pod != b.Pod || len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if w, ok := b.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}
