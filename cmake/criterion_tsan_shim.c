/*
 * criterion_tsan_shim.c - lets Criterion start under ThreadSanitizer on x86-64.
 *
 * Linked into every test executable of a CIO_SANITIZE=thread build (and nowhere else).
 *
 * Criterion (through BoxFort, built into libcriterion) maps a shared arena at a random base
 * 0x200000000000 + r * 2^24, r = rand_r() & 0x3fffff, trying 10 values of r and giving up with
 * "criterion: Could not initialize inheritable arena". Under TSan (clang 14, gcc 12) almost
 * all of that range is TSan's shadow, meta or protected memory; only the application range
 * 0x550000000000..0x568000000000 is free, so about four runs in five abort before any test.
 *
 * This file defines rand_r in the executable, which takes precedence over libc's (and over
 * TSan's interceptor) for every caller. Calls coming from libcriterion get an r that lands in
 * 0x550000000000..0x560000000000; BoxFort still checks that each page there is free, and
 * tries again if not. Every other caller gets libc's rand_r unchanged.
 */
#if defined(__x86_64__) && defined(__linux__)

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int rand_r_fn(unsigned int *);

static rand_r_fn *real_rand_r(void)
{
    static rand_r_fn *real;
    rand_r_fn *fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "rand_r");
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

static int called_from_criterion(const void *return_address)
{
    Dl_info info;
    if (dladdr(return_address, &info) == 0 || info.dli_fname == NULL)
        return 0;
    return strstr(info.dli_fname, "libcriterion") != NULL;
}

int rand_r(unsigned int *seed)
{
    int r = real_rand_r()(seed);
    if (called_from_criterion(__builtin_return_address(0)))
        r = (r & ~0x3fffff) | (0x350000 + (r & 0xffff));
    return r;
}

#else

/* Other targets have other TSan layouts; nothing to adjust here. */
typedef int cio_criterion_tsan_shim_unused;

#endif
