package whalewatcher

/*
#cgo pkg-config: whalewatcher
#include <whalewatcher.h>

#if WW_ABI_VERSION != 2
#error "this package speaks libwhalewatcher ABI version 2 (WW_ABI_VERSION)"
#endif

// wwgo_snap is what wwgo_snapshot_unless answers: ww_snapshot's status and
// snapshot, NULL when it was of the generation the caller has.
typedef struct {
	const ww_portfolio *p;
	ww_status status;
} wwgo_snap;

// wwgo_snapshot_unless is ww_snapshot, but when the caller has (has_gen)
// the snapshot's generation gen, it frees the snapshot and answers NULL:
// a single cgo call when nothing changed. The watcher comes as an integer:
// cgo's pointer check of a *C.ww_watcher argument (a pointer to an
// incomplete type) allocates.
static wwgo_snap wwgo_snapshot_unless(uintptr_t w, bool has_gen, uint64_t gen) {
	wwgo_snap r = { NULL, WW_STATUS_OK };
	r.status = ww_snapshot((ww_watcher *)w, &r.p);
	if (r.status == WW_STATUS_OK && r.p != NULL && has_gen && r.p->generation == gen) {
		ww_snapshot_free(r.p);
		r.p = NULL;
	}
	return r;
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ABIVersion is the ABI version this package was compiled against
// (WW_ABI_VERSION of the header).
const ABIVersion = 2

// The Go constants are the C header's, or this does not compile (a
// negative constant overflows uint).
const (
	_ = uint(ABIVersion-C.WW_ABI_VERSION) + uint(C.WW_ABI_VERSION-ABIVersion)
	_ = uint(Docker-C.WW_ENGINE_DOCKER) + uint(C.WW_ENGINE_DOCKER-Docker)
	_ = uint(Containerd-C.WW_ENGINE_CONTAINERD) + uint(C.WW_ENGINE_CONTAINERD-Containerd)
	_ = uint(CRI-C.WW_ENGINE_CRI) + uint(C.WW_ENGINE_CRI-CRI)
	_ = uint(Podman-C.WW_ENGINE_PODMAN) + uint(C.WW_ENGINE_PODMAN-Podman)
	_ = uint(Auto-C.WW_ENGINE_AUTO) + uint(C.WW_ENGINE_AUTO-Auto)
	_ = uint(StatusOK-C.WW_STATUS_OK) + uint(C.WW_STATUS_OK-StatusOK)
	_ = uint(StatusNullArg-C.WW_STATUS_NULL_ARG) + uint(C.WW_STATUS_NULL_ARG-StatusNullArg)
	_ = uint(StatusInvalidArg-C.WW_STATUS_INVALID_ARG) + uint(C.WW_STATUS_INVALID_ARG-StatusInvalidArg)
	_ = uint(StatusTimeout-C.WW_STATUS_TIMEOUT) + uint(C.WW_STATUS_TIMEOUT-StatusTimeout)
	_ = uint(StatusEngine-C.WW_STATUS_ENGINE) + uint(C.WW_STATUS_ENGINE-StatusEngine)
	_ = uint(StatusABIMismatch-C.WW_STATUS_ABI_MISMATCH) + uint(C.WW_STATUS_ABI_MISMATCH-StatusABIMismatch)
	_ = uint(StatusPanic-C.WW_STATUS_PANIC) + uint(C.WW_STATUS_PANIC-StatusPanic)
	_ = uint(StatusInternal-C.WW_STATUS_INTERNAL) + uint(C.WW_STATUS_INTERNAL-StatusInternal)
	_ = uint(StatusClosed-C.WW_STATUS_CLOSED) + uint(C.WW_STATUS_CLOSED-StatusClosed)
	_ = uint(StatusForked-C.WW_STATUS_FORKED) + uint(C.WW_STATUS_FORKED-StatusForked)
	_ = uint(Connecting-C.WW_ENGINE_STATE_CONNECTING) + uint(C.WW_ENGINE_STATE_CONNECTING-Connecting)
	_ = uint(Synced-C.WW_ENGINE_STATE_SYNCED) + uint(C.WW_ENGINE_STATE_SYNCED-Synced)
	_ = uint(Resyncing-C.WW_ENGINE_STATE_RESYNCING) + uint(C.WW_ENGINE_STATE_RESYNCING-Resyncing)
	_ = uint(GaveUp-C.WW_ENGINE_STATE_GAVE_UP) + uint(C.WW_ENGINE_STATE_GAVE_UP-GaveUp)
	_ = uint(Started-C.WW_CHANGE_STARTED) + uint(C.WW_CHANGE_STARTED-Started)
	_ = uint(Exited-C.WW_CHANGE_EXITED) + uint(C.WW_CHANGE_EXITED-Exited)
	_ = uint(Paused-C.WW_CHANGE_PAUSED) + uint(C.WW_CHANGE_PAUSED-Paused)
	_ = uint(Unpaused-C.WW_CHANGE_UNPAUSED) + uint(C.WW_CHANGE_UNPAUSED-Unpaused)
	_ = uint(Updated-C.WW_CHANGE_UPDATED) + uint(C.WW_CHANGE_UPDATED-Updated)
)

// LibraryABIVersion returns the ABI version of the library actually loaded.
func LibraryABIVersion() uint32 { return uint32(C.ww_abi_version()) }

// Version returns the version of the library actually loaded, e.g. "0.2.0".
func Version() string { return C.GoString(C.ww_version()) }

func checkABI() error {
	if got := LibraryABIVersion(); got != ABIVersion {
		return &Error{Status: StatusABIMismatch, Message: fmt.Sprintf(
			"the loaded libwhalewatcher has ABI version %d, this package was built for %d", got, ABIVersion)}
	}
	return nil
}

// Watcher watches container engines in the background (in the library's
// own thread) and hands out Portfolios of their alive containers, answered
// from memory, and tells when they change (Wait, Changes). All methods may
// be called from any number of goroutines at the same time, Close included.
type Watcher struct {
	// mu guards w: every C call on the watcher holds the read lock, Close
	// takes the write lock to end w's use before ww_close.
	mu      sync.RWMutex
	w       *C.ww_watcher // nil once closed
	closeMu sync.Mutex    // one Close at a time
	closed  chan struct{} // closed by Close

	// last is the Portfolio of the latest generation converted, handed
	// out again while the generation stays; convertMu makes one at a time.
	last      atomic.Pointer[Portfolio]
	convertMu sync.Mutex
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
	w := &Watcher{w: cw, closed: make(chan struct{})}
	runtime.SetFinalizer(w, (*Watcher).Close)
	return w, nil
}

// Close stops watching and releases the watcher. Ready and Wait calls in
// progress return ErrClosed at once, and so does every later one; the
// channels of Changes close; Portfolio returns nil. Close returns once the
// library's thread has ended and its engine connections are closed.
// Idempotent, and callable from any goroutine at any time, also while
// others use the watcher; Portfolios and Changes handed out before stay
// valid.
func (w *Watcher) Close() {
	if w == nil {
		return
	}
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	// ww_shutdown may run concurrently with every other call: it wakes the
	// calls waiting in ww_ready or ww_wait (they return WW_STATUS_CLOSED),
	// and makes later ones return so at once.
	w.mu.RLock()
	cw := w.w
	if cw != nil {
		C.ww_shutdown(cw)
	}
	w.mu.RUnlock()
	if cw == nil {
		return
	}
	close(w.closed)
	// No call may start once ww_close has begun: wait for the calls in
	// progress, which now return promptly, and let no other begin.
	w.mu.Lock()
	w.w = nil
	w.mu.Unlock()
	C.ww_close(cw)
	runtime.SetFinalizer(w, nil)
}

// waitSlice is the longest single ww_ready or ww_wait for a context that
// may end (it has a Done channel), so that its end is noticed in time: the
// library's waits end only by themselves or through ww_shutdown. A context
// that never ends (context.Background()) waits in one call, which Close
// ends.
const waitSlice = 50 * time.Millisecond

// Ready waits until the watcher's first full synchronisation with its
// engine has succeeded (it stays ready from then on, also during later
// resynchronisations), or until ctx ends. An Auto watcher is ready once
// every engine found at its start has synchronised or given up, and at
// least one has synchronised.
//
// It returns nil when ready; an *Error with StatusEngine once the watcher
// has given up under its backoff policy (the message says why);
// StatusTimeout when ctx ended first, which also unwraps to ctx.Err() and
// names the latest engine trouble; StatusInternal if the background work
// failed; ErrClosed when the watcher is or gets closed; StatusForked in a
// child forked after New. An ended ctx still gets an answer: nil if the
// watcher is ready.
func (w *Watcher) Ready(ctx context.Context) error {
	start := time.Now()
	s, msg, cerr, err := sliced(ctx, w.readyOnce)
	switch {
	case err != nil:
		return err
	case s == StatusOK:
		return nil
	case s == StatusTimeout:
		return &Error{
			Status:  StatusTimeout,
			Message: fmt.Sprintf("not ready after %v (%v): %s", time.Since(start).Round(time.Millisecond), cerr, trouble(msg)),
			cause:   cerr,
		}
	case s == StatusClosed:
		return ErrClosed
	}
	return &Error{Status: s, Message: msg}
}

// Wait waits until the watcher publishes a generation greater than gen (a
// container started, exited, was paused, resumed or changed, or an engine's
// state changed), or until ctx ends, and returns the current generation.
// It returns at once if the current generation already is greater. Pass the
// Generation of the Portfolio last looked at, then take a new Portfolio:
// nothing published in between is missed.
//
// Errors, with gen returned unchanged: StatusTimeout when ctx ended first
// (it also unwraps to ctx.Err(); an ended ctx still gets an answer if a
// newer generation exists); ErrClosed when the watcher is or gets closed
// (at once: Close wakes it); StatusEngine (errors.Is(err, ErrEngine)) when
// nothing newer exists and nothing can change anymore because every engine
// has given up; StatusInternal if the background work failed;
// StatusForked in a child forked after New.
//
// With a context that never ends, such as context.Background(), Wait
// sleeps in the library until something happens; with one that may end, it
// also wakes every 50 ms to look at the context.
func (w *Watcher) Wait(ctx context.Context, gen uint64) (uint64, error) {
	start := time.Now()
	newer := gen
	s, msg, cerr, err := sliced(ctx, func(timeout C.int32_t) (Status, string, error) {
		s, msg, g, err := w.waitOnce(gen, timeout)
		newer = g
		return s, msg, err
	})
	switch {
	case err != nil:
		return gen, err
	case s == StatusOK:
		return newer, nil
	case s == StatusTimeout:
		return gen, &Error{
			Status:  StatusTimeout,
			Message: fmt.Sprintf("no generation after %d within %v (%v)", gen, time.Since(start).Round(time.Millisecond), cerr),
			cause:   cerr,
		}
	case s == StatusClosed:
		return gen, ErrClosed
	}
	return gen, &Error{Status: s, Message: msg}
}

// sliced calls once until it returns something else than StatusTimeout, or
// until ctx ends; then it looks a last time without waiting, and a timeout
// comes with ctx's error. A ctx that never ends gets one call without a
// time limit; one that may end, calls of at most waitSlice (and not beyond
// its deadline).
func sliced(ctx context.Context, once func(timeout C.int32_t) (Status, string, error)) (Status, string, error, error) {
	if ctx.Done() == nil {
		s, msg, err := once(-1)
		return s, msg, nil, err
	}
	for {
		slice := waitSlice
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < slice {
				slice = left
			}
		}
		if slice < 0 || ended(ctx) != nil {
			slice = 0 // just look, one last time
		}
		s, msg, err := once(millis(slice))
		if err != nil || s != StatusTimeout {
			return s, msg, nil, err
		}
		if cerr := ended(ctx); cerr != nil {
			return s, msg, cerr, nil
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
// without limit (until ready, given up or closed). A timeout gives
// StatusTimeout (errors.Is(err, ErrTimeout) and errors.Is(err,
// context.DeadlineExceeded)).
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

// millis is d in whole milliseconds, rounded up, for a C timeout.
func millis(d time.Duration) C.int32_t {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		ms = math.MaxInt32
	}
	return C.int32_t(ms)
}

// waitCalls counts the ww_ready and ww_wait calls made, for tests.
var waitCalls atomic.Uint64

// readyOnce calls ww_ready once, waiting at most timeout ms (< 0: without
// limit).
func (w *Watcher) readyOnce(timeout C.int32_t) (Status, string, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.w == nil {
		return 0, "", ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	waitCalls.Add(1)
	s := Status(C.ww_ready(w.w, timeout))
	runtime.KeepAlive(w)
	if s != StatusOK {
		return s, C.GoString(C.ww_last_error_message()), nil
	}
	return s, "", nil
}

// waitOnce calls ww_wait once, waiting at most timeout ms (< 0: without
// limit); on success it also returns the current generation.
func (w *Watcher) waitOnce(gen uint64, timeout C.int32_t) (Status, string, uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.w == nil {
		return 0, "", gen, ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	waitCalls.Add(1)
	s := Status(C.ww_wait(w.w, C.uint64_t(gen), timeout))
	if s != StatusOK {
		runtime.KeepAlive(w)
		return s, C.GoString(C.ww_last_error_message()), gen, nil
	}
	p := w.snapshotLocked()
	newer := uint64(p.generation)
	C.ww_snapshot_free(p)
	runtime.KeepAlive(w)
	return s, "", newer, nil
}

// snapshot takes the watcher's current C snapshot, which the caller frees
// with ww_snapshot_free; nil after Close.
func (w *Watcher) snapshot() *C.ww_portfolio {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.w == nil {
		return nil
	}
	p := w.snapshotLocked()
	runtime.KeepAlive(w)
	return p
}

// freeSnapshot releases a C snapshot (nil: nothing).
func freeSnapshot(p *C.ww_portfolio) { C.ww_snapshot_free(p) }

// snapshotLocked is snapshot for a caller holding the read lock of an open
// watcher.
func (w *Watcher) snapshotLocked() *C.ww_portfolio {
	var p *C.ww_portfolio
	s := Status(C.ww_snapshot(w.w, &p))
	if s != StatusOK || p == nil {
		// Cannot happen: ww_snapshot only fails on NULL arguments.
		panic(fmt.Sprintf("whalewatcher: ww_snapshot failed with status %d", uint32(s)))
	}
	return p
}

// Portfolio returns the watcher's current alive containers and engines, in
// Go memory. It never talks to the engine: before an engine's first
// synchronisation none of its containers are there. After Close it
// returns nil (whose methods work, as an empty portfolio).
//
// Each generation is converted from the library's snapshot once: while
// nothing changes, every call (from any goroutine) returns the same
// *Portfolio without allocating, after a single look at the library's
// current generation. A new generation gets a new Portfolio, which shares
// with the previous one every Container (and Labels map) and
// ComposerProject that did not change. So Portfolios are shared: read
// them, never modify what they hand out.
func (w *Watcher) Portfolio() *Portfolio {
	last := w.last.Load()
	var gen uint64
	if last != nil {
		gen = last.Generation
	}
	w.mu.RLock()
	if w.w == nil {
		w.mu.RUnlock()
		return nil
	}
	r := C.wwgo_snapshot_unless(C.uintptr_t(uintptr(unsafe.Pointer(w.w))), C.bool(last != nil), C.uint64_t(gen))
	w.mu.RUnlock()
	runtime.KeepAlive(w)
	if s := Status(r.status); s != StatusOK || r.p == nil && last == nil {
		// Cannot happen: ww_snapshot only fails on NULL arguments.
		panic(fmt.Sprintf("whalewatcher: ww_snapshot failed with status %d", uint32(s)))
	}
	if r.p == nil {
		return last // unchanged
	}
	defer C.ww_snapshot_free(r.p)
	return w.convert(r.p)
}

// convert returns the Portfolio of snapshot p, newer than the one cached
// when the caller looked, and caches it: one goroutine converts at a time,
// from the cached Portfolio, sharing its unchanged values.
func (w *Watcher) convert(p *C.ww_portfolio) *Portfolio {
	w.convertMu.Lock()
	defer w.convertMu.Unlock()
	last := w.last.Load()
	if last != nil && last.Generation >= uint64(p.generation) {
		// Another goroutine converted this generation meanwhile, or a
		// later one, published after p was taken: current during this
		// call too.
		return last
	}
	pf := convert(p, last)
	w.last.Store(pf)
	return pf
}

// Changes watches for changes in a goroutine of its own and sends them, a
// batch at a time, on the channel it returns. The first batch has every
// container alive at the start as Started (none if there is none), so
// that applying the batches in order to an empty picture gives the
// current one. Then each batch is what changed since the previous one
// (Diff's kinds and order, computed by the library's ww_diff): never
// empty, every change seen once.
//
// A slow consumer delays only this goroutine, never the library: while a
// batch waits to be received, later changes accumulate and fold into the
// next batch, as the difference between the last batch's state and the
// state current when that batch is made (a container that started and
// exited meanwhile is not seen). Engine state changes make no batch: see
// Portfolio().Engines().
//
// The channel closes when ctx ends, when the watcher is closed (at once,
// also while a batch waits to be received: it is dropped), or when nothing
// can change anymore because every engine has given up. Receive until it
// closes, or end ctx, or Close the watcher: the goroutine, and the library
// snapshot it holds, live until then. With a ctx that never ends the
// goroutine sleeps in the library between changes; with one that may end
// it also wakes every 50 ms to look at ctx.
func (w *Watcher) Changes(ctx context.Context) <-chan []Change {
	ch := make(chan []Change)
	prev := w.snapshot()
	if prev == nil {
		close(ch)
		return ch
	}
	go w.forward(ctx, ch, prev)
	return ch
}

// forward is the goroutine of Changes; it owns prev, the snapshot of the
// state the consumer has been sent last, and frees it when it ends.
func (w *Watcher) forward(ctx context.Context, ch chan<- []Change, prev *C.ww_portfolio) {
	defer close(ch)
	defer func() { freeSnapshot(prev) }()
	batch := diffC(nil, prev)
	for {
		if len(batch) > 0 {
			select {
			case ch <- batch:
			case <-ctx.Done():
				return
			case <-w.closed:
				return
			}
		}
		if _, err := w.Wait(ctx, uint64(prev.generation)); err != nil {
			return // ctx ended, closed, or nothing can change anymore
		}
		cur := w.snapshot()
		if cur == nil {
			return // closed
		}
		batch = diffC(prev, cur)
		freeSnapshot(prev)
		prev = cur
	}
}

// diffC is ww_diff from C snapshot from (nil: none) to C snapshot to, with
// the changed containers copied into Go memory.
func diffC(from, to *C.ww_portfolio) []Change {
	var cs *C.ww_change
	var n C.size_t
	runtime.LockOSThread()
	s := Status(C.ww_diff(from, to, &cs, &n))
	if s != StatusOK {
		err := lastError(s)
		runtime.UnlockOSThread()
		// Only for a NULL argument (a bug here) or when memory runs out.
		panic("whalewatcher: " + err.Error())
	}
	runtime.UnlockOSThread()
	defer C.ww_changes_free(cs)
	changes := cslice(cs, n)
	if len(changes) == 0 {
		return nil
	}
	out := make([]Change, len(changes))
	for i := range changes {
		out[i].Kind = ChangeKind(changes[i].kind)
		if changes[i].before != nil {
			out[i].Before = copyContainer(changes[i].before, nil)
		}
		if changes[i].after != nil {
			out[i].After = copyContainer(changes[i].after, nil)
		}
	}
	return out
}
