/*
 * ThreadSanitizer annotations for the slow paths of Rust std's futex-based
 * locks, which the TSan build of libwhalewatcher cannot instrument.
 *
 * Why: without -Zbuild-std (which needs the rust-src component), std comes
 * precompiled without TSan instrumentation. The fast paths of Mutex, RwLock
 * and Condvar are #[inline] and get compiled (and instrumented) into our
 * crates, but their out-of-line slow paths stay in the uninstrumented std:
 * when a lock is contended, the acquiring compare-and-swap runs in
 * Mutex::lock_contended / RwLock::read_contended / RwLock::write_contended,
 * unseen by TSan, and Condvar::wait unlocks and relocks its mutex unseen.
 * TSan then misses the happens-before edge of the lock and reports races on
 * data the lock protects (false positives that come and go with contention).
 *
 * How: the library is linked (by the Makefile, tsan build only) with
 * -Wl,--wrap=SYMBOL for each slow path below, so every call from the
 * instrumented crates to it lands in the __wrap_ function here, which calls
 * the real one (__real_) and tells TSan what it did:
 *   - after a contended acquisition: __tsan_acquire(lock word), which
 *     synchronises with every release the instrumented unlock fast paths
 *     made on that word, as the hidden acquiring CAS does;
 *   - around Condvar::wait: __tsan_release(mutex word) before (the hidden
 *     unlock), __tsan_acquire(mutex word) after (the hidden relock);
 *   - after Once::call: release + acquire on the Once word (the hidden
 *     completion store and the waiters' hidden acquire load). A thread that
 *     only waited in Once::call releases too, which the real code does not
 *     do: a slight over-approximation (Once::call is reached only by rand's
 *     one-time initialisation, for the jitter of the retry backoff).
 *
 * One more gap is in the instrumented code itself: TSan does not model
 * atomic fences (__tsan_atomic_thread_fence is a no-op), and the
 * precompiled Arc / Weak drop (generic, but its body was fixed when std was
 * compiled without cfg(sanitize = "thread")) synchronises the last
 * decrement through `fetch_sub(1, Release); fence(Acquire)`. TSan then
 * reports the free of every Arc whose last reference is dropped on another
 * thread than an earlier one. So __tsan_atomic64_fetch_sub and
 * __tsan_atomic_thread_fence are wrapped too: an acquire fence acquires
 * from the address of the thread's latest 64-bit fetch_sub, which is what
 * the fence does for that RMW (C11 fence-atomic synchronisation); other
 * earlier atomics stay unmodelled, as before.
 *
 * The hooks add only edges the real code has; they hide no access.
 *
 * The symbol names (Rust v0-mangled, with std's crate hash) differ between
 * toolchains; the Makefile finds them in the toolchain's libstd rlib and
 * passes them as -DSYM_...="..." (the assembler names of the functions below).
 *
 * The signatures follow the Rust ABI on x86_64 as rustc lowers it for these
 * functions (self and &Mutex in rdi/rsi, Duration as (u64, u32) in rdx/ecx,
 * a &mut dyn as (data, vtable)); they were checked against the disassembly
 * of std 1.95. Only x86_64 Linux is supported.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdbool.h>
#include <stdint.h>

#if !defined(__x86_64__) || !defined(__linux__)
#error "tsan_std_hooks.c supports x86_64 Linux only"
#endif

#if !defined(SYM_MUTEX_LOCK_CONTENDED) || !defined(SYM_RWLOCK_READ_CONTENDED) ||                                  \
    !defined(SYM_RWLOCK_WRITE_CONTENDED) || !defined(SYM_CONDVAR_WAIT) || !defined(SYM_CONDVAR_WAIT_TIMEOUT) || \
    !defined(SYM_ONCE_CALL)
#error "define SYM_* to the mangled std symbol names (see tests/threads/Makefile)"
#endif

/* The TSan runtime's public annotation interface (tsan_interface.h). */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

#define WRAP(sym) __asm__("__wrap_" sym)
#define REAL(sym) __asm__("__real_" sym)

/* std::sys::sync::mutex::futex::Mutex { futex: AtomicU32 }: the lock word is
 * at offset 0 (the unlock fast path exchanges at 0(%rsi) in Condvar::wait). */
void real_mutex_lock_contended(void *m) REAL(SYM_MUTEX_LOCK_CONTENDED);
void hook_mutex_lock_contended(void *m) WRAP(SYM_MUTEX_LOCK_CONTENDED);
void hook_mutex_lock_contended(void *m)
{
    real_mutex_lock_contended(m);
    __tsan_acquire(m);
}

/* std::sys::sync::rwlock::futex::RwLock { state: AtomicU32,
 * writer_notify: AtomicU32 }: acquire from both words, whatever order rustc
 * gave the fields (acquiring from writer_notify adds no false edge: only the
 * hidden wake path writes it). */
static void acquire_rwlock(void *rw)
{
    __tsan_acquire(rw);
    __tsan_acquire((char *)rw + 4);
}

void real_rwlock_read_contended(void *rw) REAL(SYM_RWLOCK_READ_CONTENDED);
void hook_rwlock_read_contended(void *rw) WRAP(SYM_RWLOCK_READ_CONTENDED);
void hook_rwlock_read_contended(void *rw)
{
    real_rwlock_read_contended(rw);
    acquire_rwlock(rw);
}

void real_rwlock_write_contended(void *rw) REAL(SYM_RWLOCK_WRITE_CONTENDED);
void hook_rwlock_write_contended(void *rw) WRAP(SYM_RWLOCK_WRITE_CONTENDED);
void hook_rwlock_write_contended(void *rw)
{
    real_rwlock_write_contended(rw);
    acquire_rwlock(rw);
}

/* Condvar::wait(&self, mutex: &Mutex) */
void real_condvar_wait(void *cv, void *m) REAL(SYM_CONDVAR_WAIT);
void hook_condvar_wait(void *cv, void *m) WRAP(SYM_CONDVAR_WAIT);
void hook_condvar_wait(void *cv, void *m)
{
    __tsan_release(m);
    real_condvar_wait(cv, m);
    __tsan_acquire(m);
}

/* Condvar::wait_timeout(&self, mutex: &Mutex, dur: Duration) -> bool */
bool real_condvar_wait_timeout(void *cv, void *m, uint64_t secs, uint32_t nanos) REAL(SYM_CONDVAR_WAIT_TIMEOUT);
bool hook_condvar_wait_timeout(void *cv, void *m, uint64_t secs, uint32_t nanos) WRAP(SYM_CONDVAR_WAIT_TIMEOUT);
bool hook_condvar_wait_timeout(void *cv, void *m, uint64_t secs, uint32_t nanos)
{
    __tsan_release(m);
    bool r = real_condvar_wait_timeout(cv, m, secs, nanos);
    __tsan_acquire(m);
    return r;
}

/* Once::call(&self, ignore_poisoning: bool, f: &mut dyn FnMut(&OnceState));
 * Once { state_and_queued: AtomicU32 } at offset 0. */
void real_once_call(void *once, bool ignore_poisoning, void *f_data, const void *f_vtable) REAL(SYM_ONCE_CALL);
void hook_once_call(void *once, bool ignore_poisoning, void *f_data, const void *f_vtable) WRAP(SYM_ONCE_CALL);
void hook_once_call(void *once, bool ignore_poisoning, void *f_data, const void *f_vtable)
{
    real_once_call(once, ignore_poisoning, f_data, f_vtable);
    __tsan_release(once);
    __tsan_acquire(once);
}

/* The fence model (see the top). tsan_interface_atomic.h: __tsan_morder is
 * an int, relaxed 0, consume 1, acquire 2, release 3, acq_rel 4, seq_cst 5. */
static __thread volatile void *last_fetch_sub;

int64_t __real___tsan_atomic64_fetch_sub(volatile int64_t *a, int64_t v, int mo);
int64_t __wrap___tsan_atomic64_fetch_sub(volatile int64_t *a, int64_t v, int mo);
int64_t __wrap___tsan_atomic64_fetch_sub(volatile int64_t *a, int64_t v, int mo)
{
    last_fetch_sub = a;
    return __real___tsan_atomic64_fetch_sub(a, v, mo);
}

void __real___tsan_atomic_thread_fence(int mo);
void __wrap___tsan_atomic_thread_fence(int mo);
void __wrap___tsan_atomic_thread_fence(int mo)
{
    __real___tsan_atomic_thread_fence(mo);
    if ((mo == 1 || mo == 2 || mo == 4 || mo == 5) && last_fetch_sub)
        __tsan_acquire((void *)last_fetch_sub);
}
