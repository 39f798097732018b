// cio-test: threaded
// cio-test: many-runners
/*
 * strand_test.c - strands (cio/strand.h): mutual exclusion and FIFO order
 * under four runners, two strands side by side, the inline rules of
 * dispatch, running_in_this_thread (nested too), 100,000 strands on one
 * context and no allocation per strand in steady state, work tracking, a
 * stop inside a batch, bounded batches, idle and busy destroy, and a
 * cross-thread stress that would catch a lost wake-up.
 *
 * The file sets the concurrency hint of each context itself: the tests that
 * need one runner run on a context of hint 0 and on one of hint 1 (where a
 * strand takes no lock, and posts from other threads are forwarded through
 * the context), so it is marked many-runners (CIO_CONCURRENCY=1 would only
 * turn its hint-0 contexts into one-thread ones, which its several runners
 * must not run). The backend is the one CIO_BACKEND selects. Nothing is
 * timed as an assertion: every wait is bounded (HANG_MS) and fails when it
 * runs out.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cio/context.h"
#include "cio/strand.h"
#include "core/op.h"
#include "test_util.h"

#define HANG_MS 20000 /* a wait that takes this long has lost a wake-up */

static struct cio_context *make_context(int hint)
{
    struct cio_context_options o = {.concurrency_hint = hint};
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    return ctx;
}

/* Waits until *c reaches target, at most HANG_MS. */
static bool wait_count(_Atomic long *c, long target)
{
    int64_t deadline = cio_steady_now() + HANG_MS * TU_MS;
    while (atomic_load(c) < target) {
        if (cio_steady_now() > deadline)
            return false;
        sched_yield();
    }
    return true;
}

static void *run_thread(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

/* ---- one strand, four runners: no concurrent entry, FIFO per poster ---- */

#define MX_RUNNERS 4
#define MX_OUTSIDE 2      /* posters from outside: ids 0 and 1 */
#define MX_PER 25000      /* each; and each of their handlers posts one from inside */
#define MX_IDS (2 * MX_OUTSIDE)

struct mx_item {
    int id;  /* poster: 0..1 outside, 2..3 inside (posted by id - 2's handlers) */
    int seq; /* its place in its poster's order */
};

static struct {
    struct cio_strand strand;
    _Atomic int inside;    /* a handler of the strand is running */
    _Atomic long overlaps; /* handlers found another inside */
    _Atomic long done;
    int next_seq[MX_IDS]; /* run side: touched only inside the strand */
    int posted_inside[MX_OUTSIDE];
    long out_of_order;
    struct mx_item *inside_items; /* [MX_OUTSIDE][MX_PER] */
} mx;

static void mx_check(const struct mx_item *it)
{
    if (atomic_exchange(&mx.inside, 1))
        atomic_fetch_add(&mx.overlaps, 1);
    if (it->seq != mx.next_seq[it->id])
        mx.out_of_order++;
    mx.next_seq[it->id] = it->seq + 1;
}

static void mx_inside_handler(void *arg)
{
    mx_check(arg);
    atomic_store(&mx.inside, 0);
    atomic_fetch_add(&mx.done, 1);
}

static void mx_outside_handler(void *arg)
{
    const struct mx_item *it = arg;
    mx_check(it);
    cr_assert(cio_strand_running_in_this_thread(&mx.strand));
    int seq = mx.posted_inside[it->id]++;
    struct mx_item *in = &mx.inside_items[it->id * MX_PER + seq];
    in->id = it->id + MX_OUTSIDE;
    in->seq = seq;
    cio_strand_post(&mx.strand, mx_inside_handler, in);
    atomic_store(&mx.inside, 0);
    atomic_fetch_add(&mx.done, 1);
}

static void *mx_poster(void *arg)
{
    struct mx_item *items = arg;
    for (int i = 0; i < MX_PER; i++)
        cio_strand_post(&mx.strand, mx_outside_handler, &items[i]);
    return NULL;
}

Test(strand, one_strand_four_runners_no_overlap_fifo_per_poster, .timeout = 120)
{
    struct cio_context *ctx = make_context(0);
    cio_strand_init(&mx.strand, ctx);
    mx.inside_items = calloc((size_t)MX_OUTSIDE * MX_PER, sizeof *mx.inside_items);
    struct mx_item *outside = calloc((size_t)MX_OUTSIDE * MX_PER, sizeof *outside);
    cr_assert(mx.inside_items && outside);
    for (int p = 0; p < MX_OUTSIDE; p++)
        for (int i = 0; i < MX_PER; i++)
            outside[p * MX_PER + i] = (struct mx_item){p, i};
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    pthread_t r[MX_RUNNERS], p[MX_OUTSIDE];
    for (int i = 0; i < MX_RUNNERS; i++)
        pthread_create(&r[i], NULL, run_thread, ctx);
    for (int i = 0; i < MX_OUTSIDE; i++)
        pthread_create(&p[i], NULL, mx_poster, &outside[i * MX_PER]);
    for (int i = 0; i < MX_OUTSIDE; i++)
        pthread_join(p[i], NULL);
    cio_work_guard_reset(&g); /* the strand's own work keeps the runners in */
    bool all = wait_count(&mx.done, 2L * MX_OUTSIDE * MX_PER);
    if (!all)
        cio_context_stop(ctx);
    for (int i = 0; i < MX_RUNNERS; i++)
        pthread_join(r[i], NULL);
    cr_assert(all, "ran %ld of %ld handlers", atomic_load(&mx.done), 2L * MX_OUTSIDE * MX_PER);
    cr_assert_eq(atomic_load(&mx.overlaps), 0);
    cr_assert_eq(mx.out_of_order, 0);
    for (int id = 0; id < MX_IDS; id++)
        cr_assert_eq(mx.next_seq[id], MX_PER, "poster %d", id);
    cr_assert(cio_context_stopped(ctx));
    cio_strand_destroy(&mx.strand);
    cio_context_destroy(ctx);
    free(outside);
    free(mx.inside_items);
}

/* ---- two strands on one context both run ---- */

#define TWO_PER 20000

struct two_strand {
    struct cio_strand strand;
    _Atomic int inside;
    _Atomic long overlaps;
    _Atomic long done;
};

static void two_handler(void *arg)
{
    struct two_strand *t = arg;
    if (atomic_exchange(&t->inside, 1))
        atomic_fetch_add(&t->overlaps, 1);
    atomic_store(&t->inside, 0);
    atomic_fetch_add(&t->done, 1);
}

Test(strand, two_strands_on_four_runners_both_complete_each_serial)
{
    struct cio_context *ctx = make_context(0);
    static struct two_strand two[2];
    for (int i = 0; i < 2; i++)
        cio_strand_init(&two[i].strand, ctx);
    for (int n = 0; n < TWO_PER; n++)
        for (int i = 0; i < 2; i++)
            cio_strand_post(&two[i].strand, two_handler, &two[i]);
    pthread_t r[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&r[i], NULL, run_thread, ctx);
    for (int i = 0; i < 4; i++)
        pthread_join(r[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(atomic_load(&two[i].done), TWO_PER, "strand %d", i);
        cr_assert_eq(atomic_load(&two[i].overlaps), 0, "strand %d", i);
        cio_strand_destroy(&two[i].strand);
    }
    cio_context_destroy(ctx);
}

/* ---- dispatch's inline rules, running_in_this_thread ---- */

static struct {
    struct cio_context *ctx;
    struct cio_strand a, b;
    int ran;            /* handlers of the scenario that ran */
    int order[8];       /* their tags, in the order they ran */
    bool in_a, in_b;    /* running_in_this_thread(a), (b) seen by the last `mark` */
} dr;

static void mark(void *arg)
{
    dr.order[dr.ran++] = (int)(intptr_t)arg;
    dr.in_a = cio_strand_running_in_this_thread(&dr.a);
    dr.in_b = cio_strand_running_in_this_thread(&dr.b);
}

static void dr_setup(int hint)
{
    dr.ctx = make_context(hint);
    cio_strand_init(&dr.a, dr.ctx);
    cio_strand_init(&dr.b, dr.ctx);
    dr.ran = 0;
}

static void dr_teardown(void)
{
    cio_strand_destroy(&dr.a);
    cio_strand_destroy(&dr.b);
    cio_context_destroy(dr.ctx);
}

/* In a handler of a: dispatch to a runs inline. */
static void in_a_dispatch_to_a(void *arg)
{
    (void)arg;
    cio_strand_dispatch(&dr.a, mark, (void *)1);
    cr_assert_eq(dr.ran, 1, "dispatch inside its own strand ran inline");
    cr_assert(dr.in_a && !dr.in_b);
}

/* In a handler of a: dispatch to a busy b is queued; to an idle b inline. */
static void in_a_dispatch_to_b(void *arg)
{
    bool b_busy = arg != NULL;
    if (b_busy) {
        cio_strand_post(&dr.b, mark, (void *)2);
        cio_strand_dispatch(&dr.b, mark, (void *)3);
        cr_assert_eq(dr.ran, 0, "dispatch to another, busy strand was queued");
    } else {
        cio_strand_dispatch(&dr.b, mark, (void *)3);
        cr_assert_eq(dr.ran, 1, "dispatch to an idle strand ran inline (Asio's rule)");
        cr_assert(dr.in_a && dr.in_b, "nested: inside a and b");
        cr_assert(cio_strand_running_in_this_thread(&dr.a));
        cr_assert_not(cio_strand_running_in_this_thread(&dr.b), "b left");
    }
}

/* A plain handler of the context: dispatch to an idle strand inline, to a busy one queued. */
static void plain_dispatch(void *arg)
{
    (void)arg;
    cr_assert_not(cio_strand_running_in_this_thread(&dr.a));
    cio_strand_dispatch(&dr.a, mark, (void *)4);
    cr_assert_eq(dr.ran, 1, "idle strand, caller in the context: inline");
    cr_assert(dr.in_a);
    cr_assert_not(cio_strand_running_in_this_thread(&dr.a));
    cio_strand_post(&dr.a, mark, (void *)5);
    cio_strand_dispatch(&dr.a, mark, (void *)6);
    cr_assert_eq(dr.ran, 1, "busy strand: queued");
}

static void dispatch_rules(int hint)
{
    dr_setup(hint);
    /* From a thread not running the context: queued. */
    cio_strand_dispatch(&dr.a, mark, (void *)9);
    cr_assert_eq(dr.ran, 0);
    cr_assert_not(cio_strand_running_in_this_thread(&dr.a));
    cr_assert_geq(cio_context_run(dr.ctx), 1); /* 2 on hint 1: forwarded, then run */
    cr_assert_eq(dr.ran, 1);
    cr_assert(dr.in_a && !dr.in_b);

    dr.ran = 0;
    cio_context_restart(dr.ctx);
    cio_strand_post(&dr.a, in_a_dispatch_to_a, NULL);
    cio_context_run(dr.ctx);
    cr_assert_eq(dr.ran, 1);

    dr.ran = 0;
    cio_context_restart(dr.ctx);
    cio_strand_post(&dr.a, in_a_dispatch_to_b, (void *)1);
    cio_context_run(dr.ctx);
    cr_assert_eq(dr.ran, 2);
    cr_assert_eq(dr.order[0], 2, "b's handlers in order of submission");
    cr_assert_eq(dr.order[1], 3);
    cr_assert(!dr.in_a && dr.in_b, "b's queued handlers ran outside a");

    dr.ran = 0;
    cio_context_restart(dr.ctx);
    cio_strand_post(&dr.a, in_a_dispatch_to_b, NULL);
    cio_context_run(dr.ctx);
    cr_assert_eq(dr.ran, 1);

    dr.ran = 0;
    cio_context_restart(dr.ctx);
    cio_context_post(dr.ctx, plain_dispatch, NULL);
    cio_context_run(dr.ctx);
    cr_assert_eq(dr.ran, 3);
    cr_assert_eq(dr.order[1], 5);
    cr_assert_eq(dr.order[2], 6);
    cr_assert_eq(cio_strand_context(&dr.a), dr.ctx);
    dr_teardown();
}

Test(strand, dispatch_inline_rules_hint0) { dispatch_rules(0); }
Test(strand, dispatch_inline_rules_hint1) { dispatch_rules(1); }

/* post and defer never run inline, even inside the strand. */
static void post_inside(void *arg)
{
    (void)arg;
    cio_strand_post(&dr.a, mark, (void *)1);
    cio_strand_defer(&dr.a, mark, (void *)2);
    cr_assert_eq(dr.ran, 0);
}

static void post_never_inline(int hint)
{
    dr_setup(hint);
    cio_strand_post(&dr.a, post_inside, NULL);
    cio_context_run(dr.ctx);
    cr_assert_eq(dr.ran, 2);
    cr_assert_eq(dr.order[0], 1);
    cr_assert_eq(dr.order[1], 2);
    cr_assert_not(cio_strand_running_in_this_thread(&dr.a));
    cr_assert_not(cio_strand_running_in_this_thread(NULL));
    dr_teardown();
}

Test(strand, post_and_defer_never_run_inline_hint0) { post_never_inline(0); }
Test(strand, post_and_defer_never_run_inline_hint1) { post_never_inline(1); }

/* ---- 100,000 strands ---- */

#define MANY 100000
#define MANY_WARM 1000

static struct {
    struct cio_strand *strands;
    _Atomic long done;
    long next;           /* the chain's next strand */
    uint64_t warm_count; /* cio__op_malloc_count() after the warm-up */
    bool inside_ok;
} many;

static void many_handler(void *arg)
{
    struct cio_strand *s = arg;
    if (!cio_strand_running_in_this_thread(s))
        many.inside_ok = false;
    atomic_fetch_add(&many.done, 1);
}

static void many_at_once(int hint)
{
    struct cio_context *ctx = make_context(hint);
    many.strands = calloc(MANY, sizeof *many.strands);
    cr_assert_not_null(many.strands);
    many.inside_ok = true;
    for (long i = 0; i < MANY; i++)
        cio_strand_init(&many.strands[i], ctx);
    for (long i = 0; i < MANY; i++)
        cio_strand_post(&many.strands[i], many_handler, &many.strands[i]);
    cio_context_run(ctx);
    cr_assert_eq(atomic_load(&many.done), MANY);
    cr_assert(many.inside_ok);
    for (long i = 0; i < MANY; i++)
        cio_strand_destroy(&many.strands[i]);
    cio_context_destroy(ctx);
    free(many.strands);
}

Test(strand, a_hundred_thousand_strands_each_one_handler_all_run_hint0) { many_at_once(0); }
Test(strand, a_hundred_thousand_strands_each_one_handler_all_run_hint1) { many_at_once(1); }

/* Each handler posts to the next strand: one strand busy at a time. */
static void chain_handler(void *arg)
{
    (void)arg;
    atomic_fetch_add(&many.done, 1);
    if (many.next == MANY_WARM)
        many.warm_count = cio__op_malloc_count();
    if (many.next < MANY) {
        struct cio_strand *s = &many.strands[many.next++];
        cio_strand_post(s, chain_handler, s);
    }
}

static void many_chained(int hint)
{
    struct cio_context *ctx = make_context(hint);
    many.strands = calloc(MANY, sizeof *many.strands);
    cr_assert_not_null(many.strands);
    for (long i = 0; i < MANY; i++)
        cio_strand_init(&many.strands[i], ctx);
    many.next = 1;
    cio_strand_post(&many.strands[0], chain_handler, &many.strands[0]);
    cio_context_run(ctx);
    cr_assert_eq(atomic_load(&many.done), MANY);
    cr_assert_eq(cio__op_malloc_count(), many.warm_count,
                 "no malloc per strand or handler after the warm-up (%llu then %llu)",
                 (unsigned long long)many.warm_count,
                 (unsigned long long)cio__op_malloc_count());
    for (long i = 0; i < MANY; i++)
        cio_strand_destroy(&many.strands[i]);
    cio_context_destroy(ctx);
    free(many.strands);
}

Test(strand, strands_cost_no_malloc_in_steady_state_hint0) { many_chained(0); }
Test(strand, strands_cost_no_malloc_in_steady_state_hint1) { many_chained(1); }

Test(strand, fits_in_64_bytes)
{
    cr_assert_leq(sizeof(struct cio_strand), 64);
}

/* ---- work tracking ---- */

#define WORK_CHAIN 1000

static struct {
    struct cio_strand strand;
    _Atomic long done;
} wk;

static void work_chain(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&wk.done, 1) + 1 < WORK_CHAIN)
        cio_strand_post(&wk.strand, work_chain, NULL);
}

static void *post_from_outside(void *arg)
{
    (void)arg;
    cio_strand_post(&wk.strand, work_chain, NULL);
    return NULL;
}

static void work_keeps_run(int hint)
{
    struct cio_context *ctx = make_context(hint);
    cio_strand_init(&wk.strand, ctx);
    atomic_store(&wk.done, 0);
    cio_strand_post(&wk.strand, work_chain, NULL);
    cio_context_run(ctx);
    cr_assert_eq(atomic_load(&wk.done), WORK_CHAIN, "run returned with strand work left");
    cr_assert(cio_context_stopped(ctx));

    /* A post from a thread that is not running the context counts too. */
    cio_context_restart(ctx);
    atomic_store(&wk.done, 0);
    pthread_t t;
    pthread_create(&t, NULL, post_from_outside, NULL);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&wk.done), 0);
    cr_assert_geq(cio_context_run(ctx), 1);
    cr_assert_eq(atomic_load(&wk.done), WORK_CHAIN);
    cio_strand_destroy(&wk.strand);
    cio_context_destroy(ctx);
}

Test(strand, queued_handlers_keep_run_alive_hint0) { work_keeps_run(0); }
Test(strand, queued_handlers_keep_run_alive_hint1) { work_keeps_run(1); }

/* ---- a stop between a batch's handlers; batches are bounded ---- */

#define SB_LAST 7 /* tags 0..7: 0..3 queued at once, 4..7 each posted by the one before */

static struct {
    struct cio_context *ctx;
    struct cio_strand strand;
    int log[SB_LAST + 1]; /* tags in the order they ran */
    int ran;
} sb;

/* Tags 1 and 5 stop the context; tags 3..6 post the next tag. */
static void sb_handler(void *arg)
{
    int tag = (int)(intptr_t)arg;
    sb.log[sb.ran++] = tag;
    if (tag >= 3 && tag < SB_LAST)
        cio_strand_post(&sb.strand, sb_handler, (void *)(intptr_t)(tag + 1));
    if (tag == 1 || tag == 5)
        cio_context_stop(sb.ctx);
}

static void stop_inside_a_batch(int hint)
{
    sb.ctx = make_context(hint);
    cio_strand_init(&sb.strand, sb.ctx);
    sb.ran = 0;
    for (int tag = 0; tag <= 3; tag++)
        cio_strand_post(&sb.strand, sb_handler, (void *)(intptr_t)tag);
    cio_context_run(sb.ctx);
    cr_assert_eq(sb.ran, 2, "run returned after the handler that stopped (ran %d)", sb.ran);
    cr_assert(cio_context_stopped(sb.ctx));

    /* The rest stayed queued: the next run goes on from tag 2, taking the
     * handlers posted meanwhile in the same batch, up to the next stop. */
    cio_context_restart(sb.ctx);
    cio_context_run(sb.ctx);
    cr_assert_eq(sb.ran, 6, "second run stopped after tag 5 (ran %d)", sb.ran);
    cio_context_restart(sb.ctx);
    cio_context_run(sb.ctx);
    cr_assert_eq(sb.ran, SB_LAST + 1);
    for (int i = 0; i <= SB_LAST; i++)
        cr_assert_eq(sb.log[i], i, "FIFO across the stops: place %d has tag %d", i, sb.log[i]);
    cio_strand_destroy(&sb.strand); /* idle */
    cr_assert_null(cio_strand_context(&sb.strand));
    cio_context_destroy(sb.ctx);
}

Test(strand, a_stop_ends_a_batch_after_the_current_handler_hint0) { stop_inside_a_batch(0); }
Test(strand, a_stop_ends_a_batch_after_the_current_handler_hint1) { stop_inside_a_batch(1); }

#define BOUND_CHAIN 10000

static struct {
    struct cio_strand strand;
    long chain;   /* strand handlers run */
    long seen_at; /* chain when the plain handler ran; -1 before */
} bd;

static void bd_plain(void *arg)
{
    (void)arg;
    bd.seen_at = bd.chain;
}

static void bd_link(void *arg)
{
    struct cio_context *ctx = arg;
    if (bd.chain++ == 0)
        cio_context_post(ctx, bd_plain, NULL);
    if (bd.chain < BOUND_CHAIN)
        cio_strand_post(&bd.strand, bd_link, ctx);
}

/* A strand whose handlers keep posting to it runs them in bounded batches:
 * a handler posted to the context by the chain's first runs long before the
 * chain ends. */
static void batches_are_bounded(int hint)
{
    struct cio_context *ctx = make_context(hint);
    cio_strand_init(&bd.strand, ctx);
    bd.chain = 0;
    bd.seen_at = -1;
    cio_strand_post(&bd.strand, bd_link, ctx);
    cio_context_run(ctx);
    cr_assert_eq(bd.chain, BOUND_CHAIN);
    cr_assert(bd.seen_at > 0 && bd.seen_at < BOUND_CHAIN / 10,
              "the plain handler ran after %ld of %d strand handlers", bd.seen_at, BOUND_CHAIN);
    cio_strand_destroy(&bd.strand);
    cio_context_destroy(ctx);
}

Test(strand, a_strand_that_posts_to_itself_runs_in_bounded_batches_hint0)
{
    batches_are_bounded(0);
}
Test(strand, a_strand_that_posts_to_itself_runs_in_bounded_batches_hint1)
{
    batches_are_bounded(1);
}

/* ---- destroy ---- */

static void noop(void *arg)
{
    (void)arg;
}

static void destroy_inside(void *arg)
{
    struct cio_strand *s = arg;
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_strand_destroy(s);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1, "destroy from a strand's own handler is reported");
    cr_assert_eq(tu_thrown.error.value, EBUSY);
}

static void destroy_busy(void *arg)
{
    struct cio_strand *s = arg;
    dr.ran = 0;
    cio_strand_post(s, mark, NULL);
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_strand_destroy(s);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_eq(tu_thrown.error.value, EBUSY);
    cr_assert_str_eq(tu_thrown.operation, "cio_strand_destroy");
    cr_assert_eq(cio_strand_context(s), dr.ctx);
    cr_assert_eq(dr.ran, 0);
}

static void destroy_rules(int hint)
{
    struct cio_context *ctx = make_context(hint);
    dr.ctx = ctx;
    struct cio_strand s;
    cio_strand_init(&s, ctx);
    cr_assert_eq(cio_strand_context(&s), ctx);
    cio_strand_destroy(&s); /* idle: nothing to do */
    cr_assert_null(cio_strand_context(&s));
    cio_strand_destroy(&s); /* twice: ignored */
    cio_strand_destroy(NULL);

    /* Use after destroy, and bad arguments: invalid_argument, nothing queued. */
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_strand_post(&s, noop, NULL);
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert(cio_error_is(tu_thrown.error, CIO_COND_INVALID_ARGUMENT));
    cr_assert_str_eq(tu_thrown.operation, "cio_strand_post");
    cio_strand_init(&s, ctx);
    if (!setjmp(tu_thrown.jump))
        cio_strand_dispatch(&s, NULL, NULL);
    cr_assert_eq(tu_thrown.count, 2);
    if (!setjmp(tu_thrown.jump))
        cio_strand_defer(NULL, noop, NULL);
    cr_assert_eq(tu_thrown.count, 3);

    tu_catch_end();

    /* Busy (a handler queued, from inside the context: a post from outside
     * a one-thread context travels through its queue, unseen): reported, and
     * the strand keeps working. */
    cio_context_post(ctx, destroy_busy, &s);
    cio_context_run(ctx);
    cr_assert_eq(dr.ran, 1, "the queued handler still ran");

    /* From inside its own handler: reported. */
    cio_context_restart(ctx);
    cio_strand_post(&s, destroy_inside, &s);
    cio_context_run(ctx);
    cio_strand_destroy(&s); /* idle now */
    cr_assert_null(cio_strand_context(&s));
    cio_context_destroy(ctx);
}

Test(strand, destroy_idle_busy_and_misuse_hint0) { destroy_rules(0); }
Test(strand, destroy_idle_busy_and_misuse_hint1) { destroy_rules(1); }

static void context_destroy_frees_queued(int hint)
{
    /* The context goes first: its destroy frees the strand's queued
     * handlers without running them (the leak checkers verify it), and the
     * strand is idle after. */
    struct cio_context *ctx = make_context(hint);
    struct cio_strand s;
    cio_strand_init(&s, ctx);
    for (int i = 0; i < 100; i++)
        cio_strand_post(&s, noop, NULL);
    pthread_t t;
    atomic_store(&wk.done, 0);
    cio_strand_init(&wk.strand, ctx);
    pthread_create(&t, NULL, post_from_outside, NULL);
    pthread_join(t, NULL);
    cio_context_destroy(ctx);
    cr_assert_eq(atomic_load(&wk.done), 0);
    cio_strand_destroy(&s);
    cio_strand_destroy(&wk.strand);
    cr_assert_null(cio_strand_context(&s));
}

Test(strand, context_destroy_frees_queued_handlers_hint0) { context_destroy_frees_queued(0); }
Test(strand, context_destroy_frees_queued_handlers_hint1) { context_destroy_frees_queued(1); }

/* ---- cross-thread stress: posts from 2 outside threads while runners run ---- */

#define ST_ROUNDS 3000
#define ST_BUDGET_MS 3000 /* a loop also ends after this much wall clock */
#define ST_POSTERS 2

static struct {
    struct cio_context *ctx;
    struct cio_strand strand;
    _Atomic long done;
    _Atomic int inside;
    _Atomic long overlaps;
    _Atomic int round;       /* the round posters may post in */
    _Atomic int posted;      /* posters that posted in this round */
    int burst;               /* posts per poster per round */
    int last_seq[ST_POSTERS];
    long out_of_order;
} st;

/* A varying short delay, so that a strand going idle and a post arriving
 * meet at every offset over the rounds. */
static void st_spin(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

static void st_handler(void *arg)
{
    intptr_t v = (intptr_t)arg;
    int id = (int)(v & 1), seq = (int)(v >> 1);
    if (atomic_exchange(&st.inside, 1))
        atomic_fetch_add(&st.overlaps, 1);
    st_spin(seq * 7 % 97);
    if (seq != st.last_seq[id] + 1)
        st.out_of_order++;
    st.last_seq[id] = seq;
    atomic_store(&st.inside, 0);
    atomic_fetch_add(&st.done, 1);
}

static void *st_poster(void *arg)
{
    int id = (int)(intptr_t)arg, seq = 0;
    for (int r = 1;; r++) {
        int now;
        while ((now = atomic_load(&st.round)) < r && now >= 0)
            sched_yield();
        if (now < 0)
            return NULL;
        st_spin(id * (r * 13 % 251));
        for (int i = 0; i < st.burst; i++)
            cio_strand_post(&st.strand, st_handler, (void *)(intptr_t)((++seq << 1) | id));
        atomic_fetch_add(&st.posted, 1);
    }
}

static void stress(int hint, int runners)
{
    st.ctx = make_context(hint);
    cio_strand_init(&st.strand, st.ctx);
    for (int i = 0; i < ST_POSTERS; i++)
        st.last_seq[i] = 0;
    struct cio_work_guard g;
    cio_work_guard_init(&g, st.ctx);
    pthread_t r[2], p[ST_POSTERS];
    for (int i = 0; i < runners; i++)
        pthread_create(&r[i], NULL, run_thread, st.ctx);
    for (int i = 0; i < ST_POSTERS; i++)
        pthread_create(&p[i], NULL, st_poster, (void *)(intptr_t)i);
    int64_t end = cio_steady_now() + ST_BUDGET_MS * TU_MS;
    long expected = 0;
    bool ok = true;
    int round;
    for (round = 1; round <= ST_ROUNDS && ok && cio_steady_now() < end; round++) {
        /* One post each (the strand goes idle between rounds, racing the
         * next post), or a burst every fourth round. */
        st.burst = round % 4 ? 1 : 16;
        expected += (long)ST_POSTERS * st.burst;
        atomic_store(&st.posted, 0);
        atomic_store(&st.round, round);
        ok = wait_count(&st.done, expected);
        while (ok && atomic_load(&st.posted) < ST_POSTERS)
            sched_yield();
    }
    atomic_store(&st.round, -1);
    for (int i = 0; i < ST_POSTERS; i++)
        pthread_join(p[i], NULL);
    cio_work_guard_reset(&g);
    if (!ok)
        cio_context_stop(st.ctx);
    for (int i = 0; i < runners; i++)
        pthread_join(r[i], NULL);
    cr_assert(ok, "round %d: %ld of %ld handlers ran (a lost wake-up)", round,
              atomic_load(&st.done), expected);
    cr_assert_eq(atomic_load(&st.overlaps), 0);
    cr_assert_eq(st.out_of_order, 0);
    cio_strand_destroy(&st.strand);
    cio_context_destroy(st.ctx);
}

Test(strand, stress_two_outside_posters_two_runners, .timeout = 60) { stress(0, 2); }
Test(strand, stress_two_outside_posters_one_runner_hint1, .timeout = 60) { stress(1, 1); }
