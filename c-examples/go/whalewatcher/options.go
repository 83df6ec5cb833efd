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

// Engine selects the container engine to watch (Options.Engine), and tells
// which kind an engine is (EngineInfo.Kind, Endpoint.Kind).
type Engine uint32

// The engines (WW_ENGINE_*, checked at compile time). The zero value of
// Engine means Docker in Options.
const (
	// Docker, or another engine speaking the Docker API.
	Docker Engine = 1
	// Containerd: containerd, in all namespaces but the ignored ones.
	Containerd Engine = 2
	// CRI: a runtime speaking Kubernetes' CRI API (CRI-O, containerd's CRI
	// plugin), its pods' sandboxes and containers.
	CRI Engine = 3
	// Podman: podman's API service (podman system service).
	Podman Engine = 4
	// Auto: every engine this host runs, found by discovery (see Discover)
	// at start and every Options.DiscoverInterval, watched through one
	// watcher: one Portfolio, one EngineInfo per engine. Options.Endpoint
	// must be "". Only for Options: an engine found is of its own kind.
	Auto Engine = 5
)

// String returns "docker", "containerd", "cri", "podman", "auto", or
// "Engine(N)".
func (e Engine) String() string {
	switch e {
	case 0, Docker:
		return "docker"
	case Containerd:
		return "containerd"
	case CRI:
		return "cri"
	case Podman:
		return "podman"
	case Auto:
		return "auto"
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
// 500 ms up to 30 s, never giving up, 10 s per engine call, (containerd)
// the namespace "moby" ignored, engines without events relisted every
// second, (Auto) discovery every 10 s, and an audit every 60 s.
//
// Durations are handed to the library in whole milliseconds (rounded up);
// zero means the default, negative or above 2^32-1 ms is ErrInvalidArg
// (except the sentinels DiscoverOnlyAtStart for DiscoverInterval and
// AuditsOff for AuditInterval).
type Options struct {
	// Engine to watch; zero means Docker.
	Engine Engine
	// Endpoint of the engine, "" for the default:
	//   - Docker: unix:///PATH, tcp://HOST:PORT, http://HOST:PORT or
	//     https://HOST:PORT (TLS, see TLSCA); default DOCKER_HOST, else
	//     unix:///var/run/docker.sock.
	//   - Podman: as Docker, but no https://; default CONTAINER_HOST, else
	//     /run/podman/podman.sock for root and
	//     $XDG_RUNTIME_DIR/podman/podman.sock for other users.
	//   - Containerd: a socket path or unix:///PATH; default
	//     CONTAINERD_ADDRESS, else /run/containerd/containerd.sock.
	//   - CRI: a socket path or unix:///PATH; default
	//     CONTAINER_RUNTIME_ENDPOINT, else /run/crio/crio.sock.
	//   - Auto: must be "" (ErrInvalidArg otherwise).
	// An Endpoint that Discover found is usable with its Kind.
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
	// IgnoredNamespaces (containerd, and every containerd an Auto watcher
	// finds) replaces the default list of namespaces not to watch, "moby"
	// (Docker's own containers: watch them through Docker; Kubernetes'
	// containers in "k8s.io" are watched): nil means the default, an empty
	// non-nil slice watches all namespaces.
	IgnoredNamespaces []string
	// RelistInterval (ww_options.cri_poll_ms) is how often an engine that
	// sends no events is listed again to learn what changed: CRI runtimes
	// (unless CRIEvents), and a podman whose event log is off; 0 = 1 s
	// (kubelet's own relist interval).
	RelistInterval time.Duration
	// CRIEvents (CRI only) also follows the runtime's GetContainerEvents
	// stream, relisting staying on as its consistency check; false, the
	// default, only relists. The stream is shared: on containerd 1.7 every
	// subscriber takes events away from the others (kubelet's evented PLEG
	// among them), so leave it off on Kubernetes nodes. A runtime without
	// the call is only relisted.
	CRIEvents bool
	// DiscoverInterval (Auto only) is how often discovery runs again, to
	// find engines started later and to retire engines gone; 0 = 10 s.
	// DiscoverOnlyAtStart discovers once, when the watcher starts.
	DiscoverInterval time.Duration
	// AuditInterval is how often a synchronised watcher lists the
	// engine's alive containers again (the list only, no inspections of
	// what it knows), compares the list with its picture and repairs the
	// difference, counting each repair in EngineInfo.Repairs: what the
	// events missed (a stream gone silent, events the engine dropped, an
	// inspection that kept failing) is right again within one interval,
	// and a list without an answer within CallTimeout (a hung engine, a
	// half-open connection) makes the watcher resynchronise. 0 = 60 s;
	// AuditsOff turns audits off.
	AuditInterval time.Duration
	// TLSCA, TLSCert and TLSKey are the PEM files of Docker over TLS: the
	// CA that signed the daemon's certificate, and the client's
	// certificate and key, as the docker CLI takes them. TLS is used for
	// https:// endpoints, for tcp:// ones when any of the three is given
	// or DOCKER_TLS_VERIFY is set; a file not given ("") comes from
	// DOCKER_CERT_PATH, else ~/.docker (ca.pem, cert.pem, key.pem). They
	// are read at every (re)connect: a file missing or not PEM, a daemon
	// certificate that the CA did not sign or that is not for the host
	// connected to, and a client certificate the daemon refuses show in
	// EngineInfo.LastError (and in Ready's ErrEngine with BackoffNone).
	// Docker only: given for a unix:// endpoint (the default one too,
	// unless DOCKER_HOST names a TCP one) or for another engine, New
	// fails with ErrInvalidArg.
	TLSCA, TLSCert, TLSKey string
}

// DiscoverOnlyAtStart as Options.DiscoverInterval makes an Auto watcher
// discover engines only when it starts (the C API's UINT32_MAX).
const DiscoverOnlyAtStart time.Duration = -1

// AuditsOff as Options.AuditInterval turns audits off (the C API's
// audit_interval_ms 0): the watcher then trusts the engine's events until
// the stream breaks.
const AuditsOff time.Duration = -1

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
	return c.millisUpTo(what, d, math.MaxUint32)
}

// millisUpTo is d in whole milliseconds, rounded up, at most max.
func (c *cOptions) millisUpTo(what string, d time.Duration, max uint64) C.uint32_t {
	if d < 0 {
		c.fail(invalid("%s %v is negative", what, d))
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if d > time.Duration(math.MaxInt64)-time.Millisecond || uint64(ms) > max {
		c.fail(invalid("%s %v is above %d ms", what, d, max))
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
	c.opts.cri_poll_ms = c.millis("RelistInterval", o.RelistInterval)
	if o.CRIEvents {
		c.opts.cri_events = 1
	}
	if o.DiscoverInterval == DiscoverOnlyAtStart {
		c.opts.discover_interval_ms = C.uint32_t(math.MaxUint32)
	} else {
		// UINT32_MAX ms would mean "only at start": not a duration.
		c.opts.discover_interval_ms = c.millisUpTo("DiscoverInterval", o.DiscoverInterval, math.MaxUint32-1)
	}
	switch o.AuditInterval {
	case 0:
		// ww_options_init's default stays: 60 s. (A library of ABI 2 that
		// predates audits zeroes the field, and accepts it so.)
	case AuditsOff:
		c.opts.audit_interval_ms = 0
	default:
		c.opts.audit_interval_ms = c.millis("AuditInterval", o.AuditInterval)
	}
	if o.TLSCA != "" {
		c.opts.tls_ca = c.cstring("TLSCA", o.TLSCA)
	}
	if o.TLSCert != "" {
		c.opts.tls_cert = c.cstring("TLSCert", o.TLSCert)
	}
	if o.TLSKey != "" {
		c.opts.tls_key = c.cstring("TLSKey", o.TLSKey)
	}
	if c.invalid != nil {
		c.free()
		return nil, c.invalid
	}
	return c, nil
}

// fields returns the ww_options fields that Options set, by their C names,
// as numbers (strings: 1 if set); tests check the translation with it.
func (c *cOptions) fields() map[string]uint64 {
	set := func(p *C.char) uint64 {
		if p == nil {
			return 0
		}
		return 1
	}
	return map[string]uint64{
		"struct_size":            uint64(c.opts.struct_size),
		"engine":                 uint64(c.opts.engine),
		"endpoint":               set(c.opts.endpoint),
		"backoff":                uint64(c.opts.backoff),
		"backoff_initial_ms":     uint64(c.opts.backoff_initial_ms),
		"backoff_max_ms":         uint64(c.opts.backoff_max_ms),
		"backoff_max_elapsed_ms": uint64(c.opts.backoff_max_elapsed_ms),
		"call_timeout_ms":        uint64(c.opts.call_timeout_ms),
		"ignored_namespaces":     set(c.opts.ignored_namespaces),
		"cri_poll_ms":            uint64(c.opts.cri_poll_ms),
		"cri_events":             uint64(c.opts.cri_events),
		"discover_interval_ms":   uint64(c.opts.discover_interval_ms),
		"tls_ca":                 set(c.opts.tls_ca),
		"tls_cert":               set(c.opts.tls_cert),
		"tls_key":                set(c.opts.tls_key),
		"audit_interval_ms":      uint64(c.opts.audit_interval_ms),
	}
}
