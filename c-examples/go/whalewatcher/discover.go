package whalewatcher

/*
#include <pthread.h>
#include <signal.h>
#include <whalewatcher.h>

// ww_discover with SIGPIPE blocked on the calling thread, and so on the
// thread ww_discover probes from, which inherits the mask: a probe that
// writes to a socket whose peer hung up (dockerd's libnetwork socket hangs
// up on a gRPC probe) gets EPIPE instead of a SIGPIPE, which on a thread
// that is not Go's ends a Go program. A SIGPIPE is directed at the thread
// that wrote and is dropped with it. The library blocks SIGPIPE on its
// probe thread itself, but earlier builds of ABI 2 did not, and they give
// the same ww_version: this keeps the package safe with them, for two
// system calls per Discover.
static ww_status ww_go_discover(const ww_endpoint **out, size_t *len) {
	sigset_t pipe, old;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	ww_status s = ww_discover(out, len);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return s;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
)

// DiscoverProbeTimeout bounds each probe of Discover (the header's
// WW_DISCOVER_PROBE_TIMEOUT_MS, checked at compile time).
const DiscoverProbeTimeout = 2 * time.Second

const _ = uint(DiscoverProbeTimeout/time.Millisecond-C.WW_DISCOVER_PROBE_TIMEOUT_MS) +
	uint(C.WW_DISCOVER_PROBE_TIMEOUT_MS-DiscoverProbeTimeout/time.Millisecond)

// Endpoint is one engine endpoint that Discover found and that answered as
// an engine.
type Endpoint struct {
	// Kind is Docker, Containerd, CRI or Podman: what answered.
	Kind Engine
	// Endpoint is usable as Options.Endpoint with Kind as Options.Engine
	// (see Options): unix:///PATH or tcp://HOST:PORT. An engine in another
	// mount namespace is reached through /proc/PID/root/...
	Endpoint string
	// PID is the engine process serving it, in this process' PID
	// namespace; 0 if unknown.
	PID int
	// FoundBy tells how it was found: "env" (DOCKER_HOST, CONTAINER_HOST,
	// CONTAINERD_ADDRESS, CONTAINER_RUNTIME_ENDPOINT), "path" (an engine's
	// well-known socket) or "process" (a socket an engine process listens
	// on).
	FoundBy string
	// UID is the socket's owner: a rootless engine's user; 0 for TCP.
	UID uint32
}

// Options returns the Options that watch this endpoint (Engine and
// Endpoint set, all else the defaults).
func (e Endpoint) Options() Options {
	return Options{Engine: e.Kind, Endpoint: e.Endpoint}
}

// String formats as "KIND ENDPOINT (PID N, found by HOW)".
func (e Endpoint) String() string {
	return fmt.Sprintf("%v %s (PID %d, found by %s)", e.Kind, e.Endpoint, e.PID, e.FoundBy)
}

// Discover finds the container engines this host runs: from the
// environment (DOCKER_HOST, CONTAINER_HOST, CONTAINERD_ADDRESS,
// CONTAINER_RUNTIME_ENDPOINT), the engines' well-known sockets (system,
// rootless under /run/user/UID, k3s, microk8s, CRI-O), and the unix
// sockets that engine processes (dockerd, containerd, crio, podman, k3s)
// listen on, also in other mount namespaces. Each is confirmed by one
// probe (Docker and podman: /_ping; containerd and CRI: their version
// calls), bounded by DiscoverProbeTimeout; the probes run at once, so
// Discover takes at most about that long.
// A socket reachable by several paths is listed once (the first way found,
// in the order above); containerd's auxiliary sockets and anything that
// does not answer are not; a containerd socket is listed as Containerd
// only, not again as CRI. Found nothing: an empty slice and nil.
//
// It is what an Auto watcher runs at its start and every
// Options.DiscoverInterval. Errors: StatusInternal when the library cannot
// make the thread or runtime it probes with.
func Discover() ([]Endpoint, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	var found *C.ww_endpoint
	var n C.size_t
	runtime.LockOSThread()
	s := Status(C.ww_go_discover(&found, &n))
	if s != StatusOK {
		err := lastError(s)
		runtime.UnlockOSThread()
		return nil, err
	}
	runtime.UnlockOSThread()
	defer C.ww_endpoints_free(found)
	ces := cslice(found, n)
	out := make([]Endpoint, len(ces))
	for i := range ces {
		out[i] = Endpoint{
			Kind:     Engine(ces[i].kind),
			Endpoint: C.GoString(ces[i].endpoint),
			PID:      int(ces[i].pid),
			FoundBy:  C.GoString(ces[i].found_by),
			UID:      uint32(ces[i].uid),
		}
	}
	return out, nil
}
