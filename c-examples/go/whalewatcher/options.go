package whalewatcher

/*
#include <stdlib.h>
#include <whalewatcher.h>
*/
import "C"

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Engine selects the container engine to watch.
type Engine uint32

// The engines. The zero value of Engine means Docker.
const (
	Docker     Engine = 1 // WW_ENGINE_DOCKER: Docker, or another engine speaking the Docker API
	Containerd Engine = 2 // WW_ENGINE_CONTAINERD: containerd, in all namespaces but the ignored ones
)

// String returns "docker", "containerd", or "Engine(N)".
func (e Engine) String() string {
	switch e {
	case 0, Docker:
		return "docker"
	case Containerd:
		return "containerd"
	}
	return "Engine(" + strconv.FormatUint(uint64(e), 10) + ")"
}

// Backoff is how the watcher retries after the engine went away or failed.
// Unlike the C API, whose "none" is 0, the zero value here means the
// default, exponential backoff, so that Options{} means the defaults.
type Backoff int

// The backoff policies.
const (
	BackoffDefault     Backoff = iota // exponential, like BackoffExponential
	BackoffNone                       // never retry: the first failure ends the watch (Ready gives ErrEngine)
	BackoffConstant                   // retry every BackoffInitial
	BackoffExponential                // retry after BackoffInitial, growing by 1.5 (20 % jitter) up to BackoffMax
)

// String returns the policy's name.
func (b Backoff) String() string {
	switch b {
	case BackoffDefault:
		return "default"
	case BackoffNone:
		return "none"
	case BackoffConstant:
		return "constant"
	case BackoffExponential:
		return "exponential"
	}
	return "Backoff(" + strconv.Itoa(int(b)) + ")"
}

// Options configure New. The zero value means all defaults: Docker at
// DOCKER_HOST or unix:///var/run/docker.sock, exponential backoff from
// 500 ms up to 30 s, never giving up, 10 s per engine call, and (containerd)
// the namespaces "moby" and "k8s.io" ignored.
//
// Durations are handed to the library in whole milliseconds (rounded up);
// zero means the default, negative or above 2^32-1 ms is ErrInvalidArg.
type Options struct {
	// Engine to watch; zero means Docker.
	Engine Engine
	// Endpoint of the engine, "" for the default. Docker: unix:///PATH,
	// tcp://HOST:PORT or http://HOST:PORT (default DOCKER_HOST, else
	// unix:///var/run/docker.sock); containerd: a socket path or
	// unix://PATH (default CONTAINERD_ADDRESS, else
	// /run/containerd/containerd.sock).
	Endpoint string
	// Backoff policy; zero means exponential.
	Backoff Backoff
	// BackoffInitial is the first (constant: every) retry delay; 0 = 500 ms.
	BackoffInitial time.Duration
	// BackoffMax caps one exponential retry delay; 0 = 30 s. Must not be
	// below BackoffInitial for exponential backoff.
	BackoffMax time.Duration
	// BackoffMaxElapsed gives up after this long without a healthy
	// synchronisation (counted from New, or from the first failure after a
	// healthy one); 0 = never give up.
	BackoffMaxElapsed time.Duration
	// CallTimeout bounds every single engine call (connect, list,
	// inspect), not the event stream; 0 = 10 s.
	CallTimeout time.Duration
	// IgnoredNamespaces (containerd only) replaces the default list of
	// namespaces not to watch ("moby", "k8s.io"): nil means the default,
	// an empty non-nil slice watches all namespaces.
	IgnoredNamespaces []string
}

// cOptions is a ww_options with its C strings, allocated in C memory.
type cOptions struct {
	opts    C.ww_options
	cstrs   []*C.char
	invalid *Error
}

func (c *cOptions) free() {
	for _, p := range c.cstrs {
		C.free(unsafe.Pointer(p))
	}
	c.cstrs = nil
}

func (c *cOptions) cstring(what, s string) *C.char {
	if strings.IndexByte(s, 0) >= 0 {
		c.fail(invalid("%s %q contains a NUL byte", what, s))
		return nil
	}
	p := C.CString(s)
	c.cstrs = append(c.cstrs, p)
	return p
}

func (c *cOptions) fail(e *Error) {
	if c.invalid == nil {
		c.invalid = e
	}
}

func (c *cOptions) millis(what string, d time.Duration) C.uint32_t {
	if d < 0 {
		c.fail(invalid("%s %v is negative", what, d))
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		c.fail(invalid("%s %v is above %d ms", what, d, uint64(math.MaxUint32)))
		return 0
	}
	return C.uint32_t(ms)
}

// toC translates the options; on error nothing stays allocated. On success
// the caller frees the result with free() after ww_new.
func (o *Options) toC() (*cOptions, error) {
	c := &cOptions{}
	// The size as this package was compiled: the library learns which
	// version of the struct it gets.
	C.ww_options_init(&c.opts, C.size_t(unsafe.Sizeof(c.opts)))
	if o.Engine != 0 {
		// Unknown engines go through: the library rejects them (INVALID_ARG).
		c.opts.engine = C.ww_engine(o.Engine)
	}
	if o.Endpoint != "" {
		c.opts.endpoint = c.cstring("Endpoint", o.Endpoint)
	}
	switch o.Backoff {
	case BackoffDefault, BackoffExponential:
		c.opts.backoff = C.WW_BACKOFF_EXPONENTIAL
	case BackoffNone:
		c.opts.backoff = C.WW_BACKOFF_NONE
	case BackoffConstant:
		c.opts.backoff = C.WW_BACKOFF_CONSTANT
	default:
		c.fail(invalid("unknown Backoff %d", int(o.Backoff)))
	}
	c.opts.backoff_initial_ms = c.millis("BackoffInitial", o.BackoffInitial)
	c.opts.backoff_max_ms = c.millis("BackoffMax", o.BackoffMax)
	c.opts.backoff_max_elapsed_ms = c.millis("BackoffMaxElapsed", o.BackoffMaxElapsed)
	c.opts.call_timeout_ms = c.millis("CallTimeout", o.CallTimeout)
	if o.IgnoredNamespaces != nil {
		for _, ns := range o.IgnoredNamespaces {
			if ns == "" || strings.Contains(ns, ",") {
				c.fail(invalid("IgnoredNamespaces: %q is not a namespace name", ns))
			}
		}
		c.opts.ignored_namespaces = c.cstring("IgnoredNamespaces", strings.Join(o.IgnoredNamespaces, ","))
	}
	if c.invalid != nil {
		c.free()
		return nil, c.invalid
	}
	return c, nil
}
