/*
 * spinlock.h - a one-byte spin lock for critical sections of a few
 * instructions (internal).
 *
 * Test and test-and-set; a waiter that has spun a while yields the processor,
 * so that a holder preempted on an oversubscribed machine gets to run and
 * release it. The uncontended lock is one exchange, inline; the wait is out
 * of line. Use the __atomic builtins' byte: `unsigned char lock` (0 free).
 *
 * The one spin lock of the library: the context's ready queue, a strand and
 * a cancellation signal take it. The byte is a plain unsigned char, not an
 * _Atomic type, so that it can sit in a public struct (cio/strand.h,
 * cio/cancel.h) whose header includes no <stdatomic.h> and compiles as C++.
 */
#ifndef CIO__SPINLOCK_H
#define CIO__SPINLOCK_H

#include <sched.h>

/* Spins (with the processor's pause hint) before each yield. */
#define CIO__SPIN_TRIES 64

static inline void cio__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Waits for *lock, which another thread holds, and takes it. */
static __attribute__((noinline, unused)) void cio__spin_lock_contended(unsigned char *lock)
{
    do {
        for (unsigned spins = 0; __atomic_load_n(lock, __ATOMIC_RELAXED); spins++) {
            if (spins < CIO__SPIN_TRIES)
                cio__cpu_relax();
            else
                sched_yield();
        }
    } while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE));
}

static inline void cio__spin_lock(unsigned char *lock)
{
    if (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
        cio__spin_lock_contended(lock);
}

static inline void cio__spin_unlock(unsigned char *lock)
{
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

#endif /* CIO__SPINLOCK_H */
