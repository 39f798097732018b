/*
 * read_until_fuzz_test.c - the read_until fuzz target (fuzz/read_until_fuzz.c)
 * run over a bounded number of generated inputs: a fixed seed, so every run
 * checks the same inputs. The bytes of delimiters and streams come from a
 * small alphabet so that delimiters occur, patterns from regex syntax so that
 * they compile; `make fuzz` explores further with libFuzzer.
 */
#include <criterion/criterion.h>

#include "fuzz/read_until_fuzz.c"

static uint64_t fuzz_rng = 0x9e3779b97f4a7c15u;

static unsigned fuzz_next(void)
{
    fuzz_rng ^= fuzz_rng << 13;
    fuzz_rng ^= fuzz_rng >> 7;
    fuzz_rng ^= fuzz_rng << 17;
    return (unsigned)(fuzz_rng >> 32);
}

Test(read_until_fuzz, generated_inputs)
{
    static const char alphabet[] = "ab\n\0";
    static const char syntax[] = "ab\n.*+?|()[]^$\\";
    uint8_t in[600];
    for (int round = 0; round < 3000; round++) {
        size_t len = 5 + fuzz_next() % (sizeof in - 5);
        for (size_t i = 0; i < len; i++)
            in[i] = (uint8_t)alphabet[fuzz_next() % 4];
        in[0] = (uint8_t)fuzz_next();
        in[1] = (uint8_t)fuzz_next();
        in[2] = (uint8_t)(fuzz_next() % 4 ? fuzz_next() % 40 : 0);
        in[3] = (uint8_t)fuzz_next();
        in[4] = (uint8_t)fuzz_next();
        if (in[0] % 3 == 2)
            for (size_t i = 5; i < 5 + 12 && i < len; i++)
                in[i] = (uint8_t)syntax[fuzz_next() % (sizeof syntax - 1)];
        cr_assert_eq(LLVMFuzzerTestOneInput(in, len), 0);
    }
    cr_log_info("found %lu, not_found %lu, eof %lu, async %lu", fuzz_seen.found,
                fuzz_seen.not_found, fuzz_seen.eof, fuzz_seen.async);
    cr_assert_gt(fuzz_seen.found, 10000);
    cr_assert_gt(fuzz_seen.not_found, 100);
    cr_assert_gt(fuzz_seen.eof, 1000);
    cr_assert_gt(fuzz_seen.async, 10000);
    struct cio_context *ctx = fuzz_context();
    if (ctx)
        cio_context_destroy(ctx);
}
