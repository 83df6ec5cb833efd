package whalewatcher

/*
#cgo pkg-config: whalewatcher
#include <whalewatcher.h>

#if WW_ABI_VERSION != 1
#error "this package speaks libwhalewatcher ABI version 1 (WW_ABI_VERSION)"
#endif
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// ABIVersion is the ABI version this package was compiled against
// (WW_ABI_VERSION of the header).
const ABIVersion = 1

// The Go constants are the C header's, or this does not compile (a
// negative constant overflows uint).
const (
	_ = uint(ABIVersion-C.WW_ABI_VERSION) + uint(C.WW_ABI_VERSION-ABIVersion)
	_ = uint(Docker-C.WW_ENGINE_DOCKER) + uint(C.WW_ENGINE_DOCKER-Docker)
	_ = uint(Containerd-C.WW_ENGINE_CONTAINERD) + uint(C.WW_ENGINE_CONTAINERD-Containerd)
	_ = uint(StatusOK-C.WW_STATUS_OK) + uint(C.WW_STATUS_OK-StatusOK)
	_ = uint(StatusNullArg-C.WW_STATUS_NULL_ARG) + uint(C.WW_STATUS_NULL_ARG-StatusNullArg)
	_ = uint(StatusInvalidArg-C.WW_STATUS_INVALID_ARG) + uint(C.WW_STATUS_INVALID_ARG-StatusInvalidArg)
	_ = uint(StatusTimeout-C.WW_STATUS_TIMEOUT) + uint(C.WW_STATUS_TIMEOUT-StatusTimeout)
	_ = uint(StatusEngine-C.WW_STATUS_ENGINE) + uint(C.WW_STATUS_ENGINE-StatusEngine)
	_ = uint(StatusABIMismatch-C.WW_STATUS_ABI_MISMATCH) + uint(C.WW_STATUS_ABI_MISMATCH-StatusABIMismatch)
	_ = uint(StatusPanic-C.WW_STATUS_PANIC) + uint(C.WW_STATUS_PANIC-StatusPanic)
	_ = uint(StatusInternal-C.WW_STATUS_INTERNAL) + uint(C.WW_STATUS_INTERNAL-StatusInternal)
)

// LibraryABIVersion returns the ABI version of the library actually loaded.
func LibraryABIVersion() uint32 { return uint32(C.ww_abi_version()) }

// Version returns the version of the library actually loaded, e.g. "0.1.0".
func Version() string { return C.GoString(C.ww_version()) }

func checkABI() error {
	if got := LibraryABIVersion(); got != ABIVersion {
		return &Error{Status: StatusABIMismatch, Message: fmt.Sprintf(
			"the loaded libwhalewatcher has ABI version %d, this package was built for %d", got, ABIVersion)}
	}
	return nil
}

// Watcher watches one container engine in the background (in the
// library's own thread) and hands out Portfolios of its alive containers,
// answered from memory. All methods may be called from any number of
// goroutines at the same time, Close included.
type Watcher struct {
	mu sync.RWMutex // RLock: the C watcher is in use; Lock: Close
	w  *C.ww_watcher
}

// New creates a watcher that starts watching at once; it does not wait for
// the engine: use Ready for that. Invalid options give an *Error with
// StatusInvalidArg (errors.Is(err, ErrInvalidArg)). Close the watcher when
// done (a finalizer closes a forgotten one, but only as a backstop).
func New(opts Options) (*Watcher, error) {
	return newWatcher(opts, 0)
}

// newWatcher is New; a structSize other than 0 replaces ww_options'
// struct_size (tests use it to provoke an ABI mismatch).
func newWatcher(opts Options, structSize uint32) (*Watcher, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	c, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer c.free()
	if structSize != 0 {
		c.opts.struct_size = C.uint32_t(structSize)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cw *C.ww_watcher
	if s := Status(C.ww_new(&c.opts, &cw)); s != StatusOK {
		return nil, lastError(s)
	}
	w := &Watcher{w: cw}
	runtime.SetFinalizer(w, (*Watcher).Close)
	return w, nil
}

// Close stops watching and releases the watcher. It waits for Ready calls
// in progress to notice (within readySlice), and returns once the library's
// thread has ended. Idempotent; Portfolios taken before stay valid.
func (w *Watcher) Close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	cw := w.w
	w.w = nil
	w.mu.Unlock()
	if cw != nil {
		// Nobody else uses cw any more: every user holds the read lock.
		C.ww_close(cw)
	}
	runtime.SetFinalizer(w, nil)
}

// readySlice is the longest single ww_ready wait, so that context
// cancellation and Close are noticed in time.
const readySlice = 50 * time.Millisecond

// Ready waits until the watcher's first full synchronisation with the
// engine has succeeded (it stays ready from then on, also during later
// resynchronisations), or until ctx ends.
//
// It returns nil when ready; an *Error with StatusEngine once the watcher
// has given up under its backoff policy (the message says why);
// StatusTimeout when ctx ended first, which also unwraps to ctx.Err() and
// names the latest engine trouble; StatusInternal if the background work
// failed; ErrClosed after Close.
func (w *Watcher) Ready(ctx context.Context) error {
	start := time.Now()
	for {
		slice := readySlice
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < slice {
				slice = left
			}
		}
		if slice < 0 || ended(ctx) != nil {
			slice = 0 // just look, one last time
		}
		s, msg, err := w.readyOnce(slice)
		if err != nil {
			return err
		}
		switch s {
		case StatusOK:
			return nil
		case StatusTimeout:
			if cerr := ended(ctx); cerr != nil {
				return &Error{
					Status:  StatusTimeout,
					Message: fmt.Sprintf("not ready after %v (%v): %s", time.Since(start).Round(time.Millisecond), cerr, trouble(msg)),
					cause:   cerr,
				}
			}
		default:
			return &Error{Status: s, Message: msg}
		}
	}
}

// ended is ctx.Err(), or context.DeadlineExceeded already when the deadline
// has passed but ctx has not noticed yet.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// ReadyWithin is Ready with a time limit instead of a context; d < 0 waits
// without limit. A timeout gives StatusTimeout (errors.Is(err, ErrTimeout)
// and errors.Is(err, context.DeadlineExceeded)).
func (w *Watcher) ReadyWithin(d time.Duration) error {
	if d < 0 {
		return w.Ready(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.Ready(ctx)
}

// trouble extracts the latest engine trouble from ww_ready's timeout
// message "ww_ready: timed out after N ms: WHY".
func trouble(msg string) string {
	const prefix = "ww_ready: timed out after "
	if strings.HasPrefix(msg, prefix) {
		if i := strings.Index(msg, " ms: "); i >= 0 {
			return msg[i+len(" ms: "):]
		}
	}
	return msg
}

// readyOnce calls ww_ready once, waiting at most d.
func (w *Watcher) readyOnce(d time.Duration) (Status, string, error) {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.w == nil {
		return 0, "", ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := Status(C.ww_ready(w.w, C.int32_t(ms)))
	runtime.KeepAlive(w)
	if s != StatusOK {
		return s, C.GoString(C.ww_last_error_message()), nil
	}
	return s, "", nil
}

// Portfolio returns the watcher's current alive containers, copied into
// Go memory (the library's snapshot is released before returning). It
// never talks to the engine: before the first synchronisation it is empty,
// with Generation 0. After Close it returns nil (whose methods work, as an
// empty portfolio).
func (w *Watcher) Portfolio() *Portfolio {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.w == nil {
		return nil
	}
	var p *C.ww_portfolio
	s := Status(C.ww_snapshot(w.w, &p))
	runtime.KeepAlive(w)
	if s != StatusOK || p == nil {
		// Cannot happen: ww_snapshot only fails on NULL arguments.
		panic(fmt.Sprintf("whalewatcher: ww_snapshot failed with status %d", uint32(s)))
	}
	defer C.ww_snapshot_free(p)
	return copyPortfolio(p)
}

// copyPortfolio deep-copies a C snapshot into Go memory.
func copyPortfolio(p *C.ww_portfolio) *Portfolio {
	pf := &Portfolio{
		Generation: uint64(p.generation),
		Engine: EngineInfo{
			Type:    C.GoString(p.engine_type),
			ID:      C.GoString(p.engine_id),
			Version: C.GoString(p.engine_version),
			API:     C.GoString(p.engine_endpoint),
			PID:     int(p.engine_pid),
		},
	}
	ccs := cslice(p.containers, p.containers_len)
	pf.all = make([]*Container, len(ccs))
	for i := range ccs {
		pf.all[i] = copyContainer(&ccs[i])
	}
	cps := cslice(p.projects, p.projects_len)
	pf.projects = make([]*ComposerProject, 0, len(cps)+1)
	pf.byName = make(map[string]*ComposerProject, len(cps)+1)
	for i := range cps {
		proj := &ComposerProject{Name: C.GoString(cps[i].name)}
		proj.containers = sharedContainers(p, &cps[i], pf.all)
		pf.projects = append(pf.projects, proj)
		pf.byName[proj.Name] = proj
	}
	if pf.byName[""] == nil { // the header promises it; be robust anyway
		proj := &ComposerProject{}
		pf.projects = append([]*ComposerProject{proj}, pf.projects...)
		pf.byName[""] = proj
	}
	return pf
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
		out[i] = copyContainer(&ccs[i])
	}
	return out
}

func copyContainer(c *C.ww_container) *Container {
	labels := cslice(c.labels, c.labels_len)
	ct := &Container{
		ID:      C.GoString(c.id),
		Name:    C.GoString(c.name),
		Project: C.GoString(c.project),
		PID:     int(c.pid),
		Paused:  bool(c.paused),
		Labels:  make(map[string]string, len(labels)),
	}
	for _, l := range labels {
		ct.Labels[C.GoString(l.key)] = C.GoString(l.value)
	}
	return ct
}

// cslice views a C array (NULL when empty) as a Go slice, valid only while
// the C memory is.
func cslice[T any](p *T, n C.size_t) []T {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(p, int(n))
}
