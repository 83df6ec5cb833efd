package whalewatcher

/*
#include <whalewatcher.h>
*/
import "C"

import (
	"fmt"
)

// Status is the outcome of a library call, the C API's ww_status. The
// numbers are fixed by the C ABI and never reused.
type Status uint32

// The statuses of the C API (WW_STATUS_*, checked at compile time).
const (
	StatusOK          Status = 0 // success
	StatusNullArg     Status = 1 // a required pointer was NULL (a bug of this package if ever seen)
	StatusInvalidArg  Status = 2 // a bad option value
	StatusTimeout     Status = 3 // the time the caller allowed ran out
	StatusEngine      Status = 4 // the watcher gave up: engine unreachable or failing, no retries left
	StatusABIMismatch Status = 5 // header and loaded library disagree
	StatusPanic       Status = 6 // a panic was caught inside the library
	StatusInternal    Status = 7 // an unexpected internal failure
	StatusClosed      Status = 8 // the watcher was closed while the call waited, or before it
	// StatusForked: this process is a child forked (without exec) after
	// New, and the watcher's thread runs in the parent only. In such a
	// child, Portfolio shows the last state published before the fork,
	// which no longer changes; Ready and Wait return ErrForked, Changes'
	// channel closes, Close frees the watcher without waiting for the
	// parent's thread. The Go runtime itself never forks without exec
	// (os/exec, syscall.ForkExec), so a Go program sees this only if C
	// code in the process forks and the child goes on using the watcher.
	StatusForked Status = 9
)

// String returns the library's static name of the status (ww_status_str),
// e.g. "timed out".
func (s Status) String() string {
	return C.GoString(C.ww_status_str(C.ww_status(s)))
}

// Error is a failure reported by the library: its status and the message
// the library gave (ww_last_error_message, read on the failing thread), or
// one this package made for failures it detects itself.
//
// Compare with the sentinels: errors.Is(err, whalewatcher.ErrEngine) is true
// for every *Error whose Status is StatusEngine, whatever its Message.
// A timeout or cancellation of Ready or Wait also unwraps to the context's
// error (context.DeadlineExceeded or context.Canceled).
type Error struct {
	Status  Status
	Message string
	cause   error
}

// Error formats as "whalewatcher: STATUS: MESSAGE".
func (e *Error) Error() string {
	if e.Message == "" {
		return "whalewatcher: " + e.Status.String()
	}
	return "whalewatcher: " + e.Status.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same Status, which makes
// the sentinels (ErrEngine, ...) work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Unwrap returns the context error behind a Ready or Wait timeout or
// cancellation, else nil.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for errors.Is; they match any *Error of the same Status.
var (
	ErrNullArg     = &Error{Status: StatusNullArg}
	ErrInvalidArg  = &Error{Status: StatusInvalidArg}
	ErrTimeout     = &Error{Status: StatusTimeout}
	ErrEngine      = &Error{Status: StatusEngine}
	ErrABIMismatch = &Error{Status: StatusABIMismatch}
	ErrPanic       = &Error{Status: StatusPanic}
	ErrInternal    = &Error{Status: StatusInternal}
	// ErrClosed: the Watcher was closed before or while Ready, ReadyWithin
	// or Wait waited. They return ErrClosed itself.
	ErrClosed = &Error{Status: StatusClosed}
	// ErrForked: the watcher belongs to the parent process (StatusForked).
	ErrForked = &Error{Status: StatusForked}
)

// lastError wraps a failed status with this thread's last error message.
// The caller must have locked its goroutine to the OS thread that made the
// failing call (runtime.LockOSThread), as the message is per thread.
func lastError(s Status) *Error {
	return &Error{Status: s, Message: C.GoString(C.ww_last_error_message())}
}

func invalid(format string, args ...interface{}) *Error {
	return &Error{Status: StatusInvalidArg, Message: fmt.Sprintf(format, args...)}
}
