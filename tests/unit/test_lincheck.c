/*
 * The linearizability checker on hand-made histories: linearizable ones must
 * pass, each kind of anomaly must be caught with its class, malformed input
 * must be an error naming the line.  Histories are written in the history
 * format itself; `data:TEXT` stands for data=<hex of TEXT>, with %00 for a NUL.
 */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lin/lincheck.h"
#include "tests/lin/linhist.h"

/* A checked history and its report. */
struct test_run {
	struct linhist *h;
	struct lincheck_report *r;
	char err[512];
	int parsed;
};

/* Expands data:TEXT tokens into data=HEX. */
static char *
test_expand(const char *text)
{
	static const char hex[] = "0123456789abcdef";
	size_t cap = 2 * strlen(text) * 3 + 1, len = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	for (const char *s = text; *s;) {
		if (strncmp(s, "data:", 5) == 0 && (s == text || s[-1] == ' ')) {
			memcpy(out + len, "data=", 5);
			len += 5;
			for (s += 5; *s && *s != ' ' && *s != '\n'; s++) {
				unsigned char b = (unsigned char)*s;

				if (strncmp(s, "%00", 3) == 0) {
					b = 0;
					s += 2;
				}
				out[len++] = hex[b >> 4];
				out[len++] = hex[b & 15];
			}
			continue;
		}
		out[len++] = *s++;
	}
	out[len] = '\0';
	return out;
}

/* Parses and checks a history with the default options (or a budget, when not 0). */
static void
test_check(struct test_run *t, const char *text, uint64_t budget)
{
	struct lincheck_opts o;
	char *x = test_expand(text);

	memset(t, 0, sizeof(*t));
	lincheck_opts_default(&o);
	if (budget)
		o.budget = budget;
	t->parsed = linhist_parse(x, strlen(x), &t->h, t->err, sizeof(t->err)) == 0;
	free(x);
	if (!t->parsed)
		return;
	t->r = lincheck_run(t->h, &o);
	/* Printing must work on every report; keep the text for a failing test. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	lincheck_print(f, t->h, t->r, 1);
	fclose(f);
	assert_non_null(strstr(buf, "reads that returned bytes nobody wrote: "));
	if (getenv("TEST_LINCHECK_VERBOSE"))
		fputs(buf, stderr);
	free(buf);
}

/* Frees a run. */
static void
test_done(struct test_run *t)
{
	lincheck_report_free(t->r);
	linhist_free(t->h);
}

/* Asserts a linearizable verdict. */
static void
test_linearizable(const char *text)
{
	struct test_run t;

	test_check(&t, text, 0);
	if (!t.parsed)
		fail_msg("parse error: %s", t.err);
	assert_int_equal(t.r->verdict, LINCHECK_LINEARIZABLE);
	assert_int_equal(t.r->nviol, 0);
	assert_int_equal(t.r->total.violations, 0);
	test_done(&t);
}

/* Asserts nviol violations, the first of class cls at the op of (p, n), the rest of class cls. */
static void
test_violations(const char *text, size_t nviol, enum lincheck_class cls, uint32_t p, uint64_t n)
{
	struct test_run t;

	test_check(&t, text, 0);
	if (!t.parsed)
		fail_msg("parse error: %s", t.err);
	assert_int_equal(t.r->verdict, LINCHECK_VIOLATION);
	assert_int_equal(t.r->nviol, nviol);
	assert_int_equal(t.r->total.violations, nviol);
	for (size_t i = 0; i < nviol; i++)
		assert_int_equal(t.r->viol[i].cls, cls);
	assert_int_equal(t.h->ops[t.r->viol[0].op].p, p);
	assert_int_equal(t.h->ops[t.r->viol[0].op].n, n);
	assert_non_null(t.r->viol[0].rule);
	assert_non_null(strstr(t.r->viol[0].witness, lincheck_class_name(cls)));
	assert_non_null(strstr(t.r->viol[0].witness, "could not linearize"));
	test_done(&t);
}

/* Asserts exactly one violation, of class cls, at the op of (p, n). */
static void
test_violation(const char *text, enum lincheck_class cls, uint32_t p, uint64_t n)
{
	test_violations(text, 1, cls, p, n);
}

/* Asserts a parse error naming line `line`. */
static void
test_malformed(const char *text, size_t line)
{
	struct test_run t;
	char want[32];

	test_check(&t, text, 0);
	assert_false(t.parsed);
	assert_null(t.h);
	snprintf(want, sizeof(want), "line %zu: ", line);
	if (strncmp(t.err, want, strlen(want)) != 0)
		fail_msg("want an error on line %zu, got '%s'", line, t.err);
}

/* Writes, reads, namespace ops one after another. */
static void
test_sequential(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=10 v=AAAA t0=0\n"
	                  "p=1 m=1 n=1 k=f0 op=put ino=10 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=1 n=1 k=f0 op=open_r ino=10 t0=20 t1=25 res=ok\n"
	                  "p=2 m=1 n=2 k=f0 op=read ino=10 t0=26 t1=30 res=ok data:AAAA\n"
	                  "p=1 m=1 n=2 k=f0 op=trunc t0=40\n"
	                  "p=1 m=1 n=2 k=f0 op=trunc ino=10 t0=40 t1=45 res=ok\n"
	                  "p=1 m=1 n=3 k=f0 op=write ino=10 v=BBBB t0=46 t1=50 res=ok\n"
	                  "p=2 m=1 n=3 k=f0 op=open_r ino=10 t0=60 t1=65 res=ok\n"
	                  "p=2 m=1 n=4 k=f0 op=read ino=10 t0=66 t1=70 res=ok data:BBBB\n"
	                  "p=1 m=1 n=4 k=f0 op=unlink t0=80 t1=85 res=ok\n"
	                  "p=2 m=1 n=5 k=f0 op=open_r t0=90 t1=95 res=ENOENT\n"
	                  "p=1 m=1 n=5 k=f0 op=rename_away t0=100 t1=105 res=ENOENT\n"
	                  "p=1 m=1 n=6 k=f0 op=creat_excl ino=11 t0=110 t1=115 res=ok\n"
	                  "p=2 m=1 n=6 k=f0 op=creat_excl t0=120 t1=125 res=EEXIST\n"
	                  "p=1 m=1 n=7 k=f0 op=write ino=11 v=CCCC t0=130 t1=135 res=ok\n"
	                  "p=2 m=1 n=7 k=f0 op=open_a ino=11 t0=140 t1=145 res=ok\n"
	                  "p=2 m=1 n=8 k=f0 op=append ino=11 v=DDDD t0=146 t1=150 res=ok\n"
	                  "p=1 m=1 n=8 k=f0 op=open_r ino=11 t0=160 t1=165 res=ok\n"
	                  "p=1 m=1 n=9 k=f0 op=read ino=11 t0=166 t1=170 res=ok data:CCCCDDDD\n"
	                  "p=3 m=2 n=1 k=d0 op=stat t0=0 t1=5 res=ENOENT\n"
	                  "p=3 m=2 n=2 k=d0 op=mkdir t0=10 t1=15 res=ok\n"
	                  "p=3 m=2 n=3 k=d0 op=mkdir t0=20 t1=25 res=EEXIST\n"
	                  "p=3 m=2 n=4 k=d0 op=stat t0=30 t1=35 res=ok\n"
	                  "p=3 m=2 n=5 k=d0 op=rmdir t0=40 t1=45 res=ok\n"
	                  "p=3 m=2 n=6 k=d0 op=rmdir t0=50 t1=55 res=ENOENT\n");
}

/* Two concurrent puts: later reads may see either, as long as they agree. */
static void
test_concurrent_either_order(void **unused)
{
	static const char *const last[] = {"ino=1 t0=200 t1=205 res=ok\n"
	                                   "p=3 m=1 n=2 k=f0 op=read ino=1 t0=206 t1=210 "
	                                   "res=ok data:AAAA\n",
	                                   "ino=2 t0=200 t1=205 res=ok\n"
	                                   "p=3 m=1 n=2 k=f0 op=read ino=2 t0=206 t1=210 "
	                                   "res=ok data:BBBB\n"};

	for (int i = 0; i < 2; i++) {
		char h[1024];

		snprintf(h, sizeof(h),
		         "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=100 res=ok\n"
		         "p=2 m=2 n=1 k=f0 op=put ino=2 v=BBBB t0=10 t1=90 res=ok\n"
		         "p=3 m=1 n=1 k=f0 op=open_r %s",
		         last[i]);
		test_linearizable(h);
	}
	/* A read concurrent with both may see the first, a later one the second. */
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=100 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=put ino=2 v=BBBB t0=10 t1=90 res=ok\n"
	                  "p=3 m=1 n=1 k=f0 op=open_r ino=1 t0=20 t1=30 res=ok\n"
	                  "p=4 m=2 n=1 k=f0 op=open_r ino=2 t0=120 t1=130 res=ok\n");
}

/* An indeterminate put (EIO) whose value a later read sees. */
static void
test_indet_appears(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20\n"
	                  "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=30 res=EIO\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=40 t1=45 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=open_r ino=2 t0=50 t1=55 res=ok\n"
	                  "p=2 m=2 n=3 k=f0 op=read ino=2 t0=56 t1=60 res=ok data:BBBB\n");
	/* A put that never returned (its process was killed) may also take effect. */
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=2 t0=500 t1=505 res=ok\n");
	/* A create that never returned: its inode number is learnt from the open. */
	test_linearizable("p=1 m=1 n=1 k=f0 op=trunc t0=0\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=77 t0=50 t1=55 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=read ino=77 t0=56 t1=60 res=ok data:\n");
}

/* An indeterminate put (ETIMEDOUT) that never shows. */
static void
test_indet_never(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20\n"
	                  "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=30 res=ETIMEDOUT\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=40 t1=45 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=read ino=1 t0=46 t1=50 res=ok data:AAAA\n"
	                  "p=2 m=2 n=3 k=f0 op=open_r ino=1 t0=60 t1=65 res=ok\n");
}

/* A reader holding the old inode sees writes made to it after it was renamed over. */
static void
test_renamed_over_inode(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=20 t1=25 res=ok\n"
	                  "p=3 m=3 n=1 k=f0 op=trunc ino=1 t0=26 t1=30 res=ok\n"
	                  "p=4 m=1 n=1 k=f0 op=put ino=2 v=BBBB t0=31 t1=35 res=ok\n"
	                  "p=3 m=3 n=2 k=f0 op=write ino=1 v=CCCC t0=36 t1=40 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=read ino=1 t0=41 t1=45 res=ok data:CCCC\n"
	                  "p=1 m=1 n=2 k=f0 op=open_r ino=2 t0=50 t1=55 res=ok\n"
	                  "p=1 m=1 n=3 k=f0 op=read ino=2 t0=56 t1=60 res=ok data:BBBB\n");
}

/* A read between the trunc and the write of an in-place rewrite sees "". */
static void
test_rewrite_empty_between(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=trunc ino=1 t0=20 t1=30 res=ok\n"
	                  "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=35 t1=40 res=ok\n"
	                  "p=3 m=3 n=2 k=f0 op=read ino=1 t0=41 t1=45 res=ok data:\n"
	                  "p=2 m=2 n=2 k=f0 op=write ino=1 v=BBBB t0=31 t1=60 res=ok\n"
	                  "p=3 m=3 n=3 k=f0 op=open_r ino=1 t0=70 t1=75 res=ok\n"
	                  "p=3 m=3 n=4 k=f0 op=read ino=1 t0=76 t1=80 res=ok data:BBBB\n");
}

/* Concurrent appends land in some order; every later read sees the same one. */
static void
test_appends(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=open_a ino=1 t0=20 t1=25 res=ok\n"
	                  "p=3 m=3 n=1 k=f0 op=open_a ino=1 t0=20 t1=25 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=append ino=1 v=BBBB t0=30 t1=50 res=ok\n"
	                  "p=3 m=3 n=2 k=f0 op=append ino=1 v=CCCC t0=30 t1=50 res=ok\n"
	                  "p=4 m=1 n=1 k=f0 op=open_r ino=1 t0=60 t1=65 res=ok\n"
	                  "p=4 m=1 n=2 k=f0 op=read ino=1 t0=66 t1=70 res=ok data:AAAACCCCBBBB\n"
	                  "p=1 m=1 n=2 k=f0 op=open_r ino=1 t0=80 t1=85 res=ok\n"
	                  "p=1 m=1 n=3 k=f0 op=read ino=1 t0=86 t1=90 res=ok data:AAAACCCCBBBB\n");
	/* The same appends seen in two different orders cannot both be right. */
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=open_a ino=1 t0=20 t1=25 res=ok\n"
	               "p=3 m=3 n=1 k=f0 op=open_a ino=1 t0=20 t1=25 res=ok\n"
	               "p=2 m=2 n=2 k=f0 op=append ino=1 v=BBBB t0=30 t1=50 res=ok\n"
	               "p=3 m=3 n=2 k=f0 op=append ino=1 v=CCCC t0=30 t1=50 res=ok\n"
	               "p=4 m=1 n=1 k=f0 op=open_r ino=1 t0=60 t1=65 res=ok\n"
	               "p=4 m=1 n=2 k=f0 op=read ino=1 t0=66 t1=70 res=ok data:AAAACCCCBBBB\n"
	               "p=1 m=1 n=2 k=f0 op=open_r ino=1 t0=80 t1=85 res=ok\n"
	               "p=1 m=1 n=3 k=f0 op=read ino=1 t0=86 t1=90 res=ok data:AAAABBBBCCCC\n",
	               LINCHECK_NO_ORDER, 1, 3);
}

/* A read after a completed put sees the value it replaced. */
static void
test_stale_read(void **unused)
{
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=30 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=40 t1=45 res=ok\n"
	               "p=3 m=3 n=1 k=f0 op=open_r ino=2 t0=50 t1=55 res=ok\n",
	               LINCHECK_STALE_READ, 2, 1);
}

/* A read returns NUL bytes that nobody wrote. */
static void
test_nobody_wrote(void **unused)
{
	struct test_run t;
	const char *h = "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=20 t1=25 res=ok\n"
	                "p=2 m=2 n=2 k=f0 op=read ino=1 t0=26 t1=30 res=ok data:%00%00%00%00\n";

	test_violation(h, LINCHECK_NOBODY_WROTE, 2, 2);
	test_check(&t, h, 0);
	assert_true(t.parsed);
	assert_int_equal(t.r->total.nobody_wrote, 1);
	assert_int_equal(t.r->total.reads, 1);
	test_done(&t);
	/* An open that finds an inode no op created under the key. */
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=open_r ino=99 t0=20 t1=25 res=ok\n",
	               LINCHECK_NOBODY_WROTE, 2, 1);
}

/* An acknowledged in-place write is never seen; reads keep seeing the older value. */
static void
test_lost_write(void **unused)
{
	test_violations("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                "p=1 m=1 n=2 k=f0 op=trunc ino=1 t0=20 t1=25 res=ok\n"
	                "p=1 m=1 n=3 k=f0 op=write ino=1 v=BBBB t0=26 t1=30 res=ok\n"
	                "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=40 t1=45 res=ok\n"
	                "p=2 m=2 n=2 k=f0 op=read ino=1 t0=46 t1=50 res=ok data:AAAA\n"
	                "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=60 t1=65 res=ok\n"
	                "p=3 m=3 n=2 k=f0 op=read ino=1 t0=66 t1=70 res=ok data:AAAA\n",
	                2, LINCHECK_LOST_WRITE, 2, 2);
}

/* open_r fails with ENOENT although the file was bound all along. */
static void
test_enoent_while_bound(void **unused)
{
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=60 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=open_r t0=30 t1=40 res=ENOENT\n"
	               "p=2 m=2 n=2 k=f0 op=open_r ino=2 t0=70 t1=75 res=ok\n",
	               LINCHECK_STALE_READ, 2, 1);
}

/* mkdir succeeds twice with no rmdir between. */
static void
test_mkdir_twice(void **unused)
{
	test_violation("p=1 m=1 n=1 k=d0 op=mkdir t0=0 t1=10 res=ok\n"
	               "p=2 m=2 n=1 k=d0 op=mkdir t0=20 t1=30 res=ok\n",
	               LINCHECK_LOST_WRITE, 2, 1);
}

/* A read returns what the file held before a trunc that completed before it. */
static void
test_read_before_trunc(void **unused)
{
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=trunc ino=1 t0=20 t1=30 res=ok\n"
	               "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=35 t1=40 res=ok\n"
	               "p=3 m=3 n=2 k=f0 op=read ino=1 t0=41 t1=45 res=ok data:AAAA\n"
	               "p=1 m=1 n=2 k=f0 op=open_r ino=1 t0=50 t1=55 res=ok\n"
	               "p=1 m=1 n=3 k=f0 op=read ino=1 t0=56 t1=60 res=ok data:\n",
	               LINCHECK_STALE_READ, 3, 2);
}

/*
 * open(O_TRUNC) finds the inode, and a rename moves it away before the
 * truncation lands (Linux truncates after the lookup, without the directory
 * lock): a read of the old content after the rename is no anomaly, nor is
 * the name being absent afterwards.  Seen on a real chain.
 */
static void
test_trunc_after_rename_away(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=trunc ino=1 t0=20 t1=60 res=ok\n"
	                  "p=3 m=3 n=1 k=f0 op=rename_away t0=21 t1=30 res=ok\n"
	                  "p=4 m=1 n=1 k=f0 op=open_r ino=1 t0=22 t1=25 res=ok\n"
	                  "p=4 m=1 n=2 k=f0 op=read ino=1 t0=35 t1=40 res=ok data:AAAA\n"
	                  "p=5 m=2 n=1 k=f0 op=unlink t0=45 t1=50 res=ENOENT\n"
	                  "p=2 m=2 n=2 k=f0 op=write ino=1 v=BBBB t0=61 t1=65 res=ok\n");
	/* Once the trunc has returned, its emptying has happened (test_read_before_trunc too). */
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=trunc ino=1 t0=20 t1=60 res=ok\n"
	               "p=3 m=3 n=1 k=f0 op=rename_away t0=21 t1=30 res=ok\n"
	               "p=4 m=1 n=1 k=f0 op=open_r ino=1 t0=22 t1=25 res=ok\n"
	               "p=4 m=1 n=2 k=f0 op=read ino=1 t0=61 t1=65 res=ok data:AAAA\n",
	               LINCHECK_STALE_READ, 4, 2);
}

/*
 * A write, append or trunc that failed with ESTALE found its file gone and did
 * nothing.  One whose later call failed (ESTALE_LATE: fsync after the write,
 * fstat after the open) is indeterminate but settled: whatever it did, it did
 * before it returned.  One that failed with EIO may still be in flight and
 * take effect later.  The same history is fine with EIO, a violation with
 * ESTALE_LATE (too late) and with ESTALE (never).
 */
static void
test_settled_indet(void **unused)
{
	static const char *const base = "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                                 "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=25 t1=26 res=ok\n"
	                                 "p=3 m=3 n=2 k=f0 op=read ino=1 t0=27 t1=28 res=ok "
	                                 "data:AAAA\n"
	                                 "p=3 m=3 n=3 k=f0 op=open_r ino=1 t0=40 t1=41 res=ok\n"
	                                 "p=3 m=3 n=4 k=f0 op=read ino=1 t0=42 t1=43 res=ok "
	                                 "data:BBBB\n";
	static const char *const after = "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                                  "p=2 m=2 n=1 k=f0 op=write ino=1 v=BBBB t0=5 t1=20 res=%s\n"
	                                  "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=30 t1=31 res=ok\n"
	                                  "p=3 m=3 n=2 k=f0 op=read ino=1 t0=32 t1=33 res=ok "
	                                  "data:%s\n";
	char h[1024];
	struct test_run t;

	snprintf(h, sizeof(h), "%sp=2 m=2 n=1 k=f0 op=write ino=1 v=BBBB t0=12 t1=20 res=EIO\n",
	         base);
	test_linearizable(h);
	snprintf(h, sizeof(h),
	         "%sp=2 m=2 n=1 k=f0 op=write ino=1 v=BBBB t0=12 t1=20 res=ESTALE_LATE\n", base);
	test_violation(h, LINCHECK_NO_ORDER, 3, 4);
	/* Settled: never done, or done within its window; both fine. */
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=trunc t0=5 t1=20 res=ESTALE_LATE\n"
	                  "p=3 m=3 n=1 k=f0 op=open_r ino=1 t0=30 t1=31 res=ok\n"
	                  "p=3 m=3 n=2 k=f0 op=read ino=1 t0=32 t1=33 res=ok data:AAAA\n");
	snprintf(h, sizeof(h), after, "ESTALE_LATE", "BBBB");
	test_linearizable(h);
	snprintf(h, sizeof(h), after, "ESTALE_LATE", "AAAA");
	test_linearizable(h);
	/* Found its file gone: it did nothing, and is counted apart. */
	snprintf(h, sizeof(h), after, "ESTALE", "AAAA");
	test_check(&t, h, 0);
	assert_true(t.parsed);
	assert_int_equal(t.r->verdict, LINCHECK_LINEARIZABLE);
	assert_int_equal(t.r->total.noeffect, 1);
	assert_int_equal(t.r->total.indet, 0);
	test_done(&t);
	snprintf(h, sizeof(h), after, "ESTALE", "BBBB");
	test_check(&t, h, 0);
	assert_true(t.parsed);
	assert_int_equal(t.r->verdict, LINCHECK_VIOLATION);
	test_done(&t);
	/* Other mutations failing with ESTALE stay settled, not "did nothing". */
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=unlink t0=5 t1=20 res=ESTALE\n"
	                  "p=3 m=3 n=1 k=f0 op=open_r t0=30 t1=31 res=ENOENT\n");
}

/* Several anomalies on one key are all reported; ESTALE reads are counted, not judged. */
static void
test_several_and_dropped(void **unused)
{
	struct test_run t;

	test_check(&t,
	           "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	           "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=30 res=ok\n"
	           "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=40 t1=45 res=ok\n"
	           "p=2 m=2 n=2 k=f0 op=open_r ino=2 t0=50 t1=55 res=ok\n"
	           "p=2 m=2 n=3 k=f0 op=open_r ino=1 t0=60 t1=65 res=ok\n"
	           "p=2 m=2 n=4 k=f0 op=open_r t0=70 t1=75 res=ESTALE\n"
	           "p=3 m=1 n=1 k=d1 op=stat t0=0 t1=5 res=EIO\n"
	           "p=3 m=1 n=2 k=d1 op=mkdir t0=10 t1=15 res=ok\n"
	           "p=3 m=1 n=3 k=d1 op=stat t0=20 t1=25 res=ENOENT\n",
	           0);
	assert_true(t.parsed);
	assert_int_equal(t.r->verdict, LINCHECK_VIOLATION);
	assert_int_equal(t.r->nviol, 3);
	assert_int_equal(t.r->total.violations, 3);
	assert_int_equal(t.r->total.dropped, 2);
	assert_int_equal(t.r->ndropped, 2);
	assert_string_equal(t.r->dropped[0].name, "ESTALE");
	assert_string_equal(t.r->dropped[1].name, "EIO");
	assert_int_equal(t.r->total.ops, 9);
	test_done(&t);
}

/* A search that runs out of budget is "unknown", which is not a pass. */
static void
test_budget(void **unused)
{
	struct test_run t;

	test_check(&t,
	           "p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	           "p=2 m=2 n=1 k=f0 op=open_r ino=1 t0=20 t1=25 res=ok\n"
	           "p=2 m=2 n=2 k=f0 op=read ino=1 t0=26 t1=30 res=ok data:AAAA\n",
	           2);
	assert_true(t.parsed);
	assert_int_equal(t.r->verdict, LINCHECK_UNKNOWN);
	assert_int_equal(t.r->keys[0].verdict, LINCHECK_UNKNOWN);
	test_done(&t);
}

/* A create that never returned made an inode whose number the filesystem reused. */
static void
test_indet_create_reused_ino(void **unused)
{
	test_linearizable("p=1 m=1 n=1 k=f0 op=put ino=5 v=AAAA t0=0 t1=10 res=ok\n"
	                  "p=2 m=2 n=1 k=f0 op=open_r ino=5 t0=20 t1=25 res=ok\n"
	                  "p=2 m=2 n=2 k=f0 op=read ino=5 t0=26 t1=30 res=ok data:AAAA\n"
	                  "p=1 m=1 n=2 k=f0 op=unlink t0=40 t1=45 res=ok\n"
	                  "p=3 m=3 n=1 k=f0 op=trunc t0=50\n"
	                  "p=3 m=3 n=1 k=f0 op=trunc t0=50 t1=60 res=EIO\n"
	                  "p=2 m=2 n=3 k=f0 op=open_r ino=5 t0=70 t1=75 res=ok\n"
	                  "p=2 m=2 n=4 k=f0 op=read ino=5 t0=76 t1=80 res=ok data:\n");
}

/* A read of an inode returns a value that was written, but to another inode. */
static void
test_value_of_other_inode(void **unused)
{
	test_violation("p=1 m=1 n=1 k=f0 op=put ino=1 v=AAAA t0=0 t1=10 res=ok\n"
	               "p=1 m=1 n=2 k=f0 op=put ino=2 v=BBBB t0=20 t1=30 res=ok\n"
	               "p=2 m=2 n=1 k=f0 op=open_r ino=2 t0=40 t1=45 res=ok\n"
	               "p=2 m=2 n=2 k=f0 op=read ino=2 t0=46 t1=50 res=ok data:AAAA\n",
	               LINCHECK_NOBODY_WROTE, 2, 2);
}

/* A history being generated, and the generator's random state. */
struct test_gen {
	char *buf;
	size_t len, cap;
	uint64_t rng;
};

/* A pseudo-random number below n (splitmix64). */
static unsigned
test_rand(struct test_gen *g, unsigned n)
{
	uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (unsigned)((z ^ (z >> 31)) % n);
}

/* Appends a line to the generated history. */
static void __attribute__((format(printf, 2, 3)))
test_gen_put(struct test_gen *g, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (g->cap - g->len < 256) {
		char *buf;

		g->cap = g->cap ? 2 * g->cap : 65536;
		buf = realloc(g->buf, g->cap);
		assert_non_null(buf);
		g->buf = buf;
	}
	va_start(ap, fmt);
	k = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
	va_end(ap);
	assert_true(k > 0 && (size_t)k < g->cap - g->len);
	g->len += (size_t)k;
}

/* One generated op: its interval and the moment it takes effect. */
struct test_genop {
	uint64_t t0, lp, t1, ino;
	unsigned p, n;
	char kind; /* P put, R open_r, r read, U unlink, A open_a, a append */
};

/* Orders generated ops by the moment they take effect. */
static int
test_cmp_lp(const void *a, const void *b)
{
	const struct test_genop *x = a, *y = b;

	return x->lp < y->lp ? -1 : x->lp > y->lp;
}

/*
 * A history of about nops ops by procs processes on key f0, results computed
 * in the order the ops take effect, so it is linearizable.  With stale set, one
 * open_r in the last quarter reports the inode a put that completed before it
 * began had replaced (and its read that inode's contents): one violation.
 */
static char *
test_generate(unsigned nops, unsigned procs, int stale)
{
	struct test_genop *ops = calloc(nops, sizeof(*ops));
	uint64_t *clock = calloc(procs, sizeof(*clock));
	uint64_t *held = calloc(procs, sizeof(*held));         /* inode a process opened, 0 none */
	char *slot = calloc(procs, 1);                         /* the step an open asks for next */
	char **contents = calloc(nops + 2, sizeof(*contents)); /* by inode */
	uint64_t binding = 0, next_ino = 1;
	struct test_genop *put1 = NULL, *put2 = NULL; /* the last two puts */
	unsigned *seq = calloc(procs, sizeof(*seq));
	struct test_gen g = {.rng = 42};

	assert_true(ops && clock && held && slot && contents && seq);
	for (unsigned i = 0; i < nops; i++) {
		unsigned p = test_rand(&g, procs);
		static const char pick[] = "PPRRRUAA";

		ops[i].kind = slot[p] ? slot[p] : pick[test_rand(&g, sizeof(pick) - 1)];
		slot[p] = ops[i].kind == 'R' ? 'r' : ops[i].kind == 'A' ? 'a' : 0;
		ops[i].p = p;
		ops[i].t0 = clock[p] + 1 + test_rand(&g, 50);
		ops[i].lp = ops[i].t0 + test_rand(&g, 400);
		ops[i].t1 = ops[i].lp + 1 + test_rand(&g, 400);
		clock[p] = ops[i].t1;
	}
	qsort(ops, nops, sizeof(*ops), test_cmp_lp);
	for (unsigned i = 0; i < nops; i++) {
		struct test_genop *o = &ops[i];
		uint64_t ino;
		char *c;

		/* A step after a failed open is not done. */
		if ((o->kind == 'r' || o->kind == 'a') && held[o->p] == 0)
			continue;
		o->n = ++seq[o->p];
		test_gen_put(&g, "p=%u m=1 n=%u k=f0 t0=%" PRIu64 " t1=%" PRIu64, o->p, o->n, o->t0,
		             o->t1);
		switch (o->kind) {
		case 'P':
			contents[next_ino] = malloc(8);
			assert_non_null(contents[next_ino]);
			snprintf(contents[next_ino], 8, "v%05u", i);
			test_gen_put(&g, " op=put ino=%" PRIu64 " v=%s res=ok\n", next_ino,
			             contents[next_ino]);
			put1 = put2;
			put2 = o;
			o->ino = next_ino;
			binding = next_ino++;
			break;
		case 'R':
		case 'A':
			ino = binding;
			/* Provably stale: put1 returned before put2 began, put2 before this. */
			if (stale && o->kind == 'R' && i > nops * 3 / 4 && put1 != NULL &&
			    put1->t1 < put2->t0 && put2->t1 < o->t0 && binding == put2->ino) {
				ino = put1->ino;
				stale = 0;
			}
			held[o->p] = ino;
			if (ino)
				test_gen_put(&g, " op=%s ino=%" PRIu64 " res=ok\n",
				             o->kind == 'R' ? "open_r" : "open_a", ino);
			else
				test_gen_put(&g, " op=%s res=ENOENT\n",
				             o->kind == 'R' ? "open_r" : "open_a");
			break;
		case 'r':
			test_gen_put(&g, " op=read ino=%" PRIu64 " res=ok data=", held[o->p]);
			for (c = contents[held[o->p]]; *c; c++)
				test_gen_put(&g, "%02x", (unsigned char)*c);
			test_gen_put(&g, "\n");
			held[o->p] = 0;
			break;
		case 'a':
			c = realloc(contents[held[o->p]], strlen(contents[held[o->p]]) + 8);
			assert_non_null(c);
			snprintf(c + strlen(c), 8, "a%05u", i);
			contents[held[o->p]] = c;
			test_gen_put(&g, " op=append ino=%" PRIu64 " v=a%05u res=ok\n", held[o->p],
			             i);
			held[o->p] = 0;
			break;
		case 'U':
			test_gen_put(&g, " op=unlink res=%s\n", binding ? "ok" : "ENOENT");
			binding = 0;
			break;
		}
	}
	for (uint64_t k = 0; k < next_ino; k++)
		free(contents[k]);
	free(contents);
	free(ops);
	free(clock);
	free(held);
	free(slot);
	free(seq);
	return g.buf;
}

/* About 20,000 ops by 10 processes on one key: linearizable, in a few steps per op. */
static void
test_generated_scale(void **unused)
{
	char *h = test_generate(20000, 10, 0);
	struct test_run t;

	test_check(&t, h, 0);
	free(h);
	if (!t.parsed)
		fail_msg("parse error: %s", t.err);
	assert_true(t.r->total.ops > 15000);
	assert_int_equal(t.r->verdict, LINCHECK_LINEARIZABLE);
	/* Memoisation keeps the search near-linear; without it this would not end. */
	assert_true(t.r->total.steps < 10000000);
	test_done(&t);
}

/* A generated history with one provably stale open among 3,000 ops: one incident. */
static void
test_generated_stale(void **unused)
{
	char *h = test_generate(3000, 10, 1);
	struct test_run t;

	test_check(&t, h, 0);
	free(h);
	if (!t.parsed)
		fail_msg("parse error: %s", t.err);
	assert_int_equal(t.r->verdict, LINCHECK_VIOLATION);
	assert_int_equal(t.r->nviol, 1);
	test_done(&t);
}

/* Malformed lines are errors naming the line, never crashes. */
static void
test_malformed_lines(void **unused)
{
	const char *ok = "p=1 m=1 n=1 k=f0 op=unlink t0=0 t1=1 res=ENOENT\n";
	static const struct {
		const char *line;
	} bad[] = {
	    {"garbage\n"},
	    {"p=1 m=1 n=2 k=f0 t0=0 t1=1 res=ok\n"},           /* no op */
	    {"p=1 m=1 n=2 k=f0 op=frob t0=0 t1=1 res=ok\n"},   /* unknown op */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=x t1=1 res=ok\n"}, /* not a number */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=99999999999999999999999 t1=1 res=ok\n"},
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=5 t1=1 res=ok\n"},              /* t1 < t0 */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=0 t1=1\n"},                     /* t1 without res */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=0 t1=1 res=weird\n"},           /* bad res */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=0 t1=1 res=ok zz=1\n"},         /* unknown field */
	    {"p=1 m=1 n=2 k=f0 op=unlink t0=0 t1=1 res=ok p=2\n"},          /* field twice */
	    {"p=1 m=1 n=2 k=f0 op=read ino=1 t0=0 t1=1 res=ok data=abc\n"}, /* odd hex */
	    {"p=1 m=1 n=2 k=f0 op=read ino=1 t0=0 t1=1 res=ok data=zz\n"},  /* not hex */
	    {"p=1 m=1 n=2 k=f0 op=read ino=1 t0=0 t1=1 res=ok\n"},          /* read without data */
	    {"p=1 m=1 n=2 k=f0 op=write ino=1 t0=0 t1=1 res=ok\n"},         /* write without v */
	    {"p=1 m=1 n=2 k=f0 op=open_r t0=0 t1=1 res=ok\n"},           /* ok open without ino */
	    {"p=1 m=1 n=2 k=f0 op=read ino=0 t0=0 t1=1 res=ok data=\n"}, /* ino 0 */
	    {"p=1 m=1 n=2 k=f0 op=mkdir t0=0 t1=1 res=ok\n"},            /* f0 is a file key */
	    {"p=1 m=1 n=1 k=f0 op=unlink t0=0 t1=1 res=ENOENT\n"},       /* completed twice */
	    {"p=1 m=1 n=2 k= op=unlink t0=0 t1=1 res=ok\n"},             /* empty key */
	    {"p=1 m=1 n=2 k=f0 op=unlink v=AAAA t0=0 t1=1 res=ok\n"},    /* v on unlink */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char h[512];

		snprintf(h, sizeof(h), "# a comment\n%s\n%s", ok, bad[i].line);
		test_malformed(h, 4);
	}
	/* An invocation completed by a record that disagrees with it. */
	test_malformed("p=1 m=1 n=1 k=f0 op=unlink t0=0\n"
	               "p=1 m=1 n=1 k=f0 op=rmdir t0=0 t1=5 res=ok\n",
	               2);
	/* A second invocation with the same (p, n). */
	test_malformed("p=1 m=1 n=1 k=f0 op=unlink t0=0\n"
	               "p=1 m=1 n=1 k=f0 op=unlink t0=0\n",
	               2);
	/* A NUL inside a line (data read from a file, not a C string). */
	{
		const char h[] = "p=1 m=1 n=1 k=f0 op=unlink t0=0 t1=1 res=ok\n"
		                 "p=1 m=1 n=2 k=f0\0op=unlink t0=0 t1=1 res=ok\n";
		struct linhist *lh = NULL;
		char err[256];

		assert_int_equal(linhist_parse(h, sizeof(h) - 1, &lh, err, sizeof(err)), -1);
		assert_null(lh);
		assert_string_equal(err, "line 2: NUL byte in the line");
	}
	/* Blank lines, comments, CRLF and an empty history are fine. */
	test_linearizable("\n# nothing\r\n\r\n");
	test_linearizable("p=1 m=1 n=1 k=f0 op=unlink t0=0 t1=1 res=ENOENT\r\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequential),
	    cmocka_unit_test(test_concurrent_either_order),
	    cmocka_unit_test(test_indet_appears),
	    cmocka_unit_test(test_indet_never),
	    cmocka_unit_test(test_renamed_over_inode),
	    cmocka_unit_test(test_rewrite_empty_between),
	    cmocka_unit_test(test_appends),
	    cmocka_unit_test(test_stale_read),
	    cmocka_unit_test(test_nobody_wrote),
	    cmocka_unit_test(test_lost_write),
	    cmocka_unit_test(test_enoent_while_bound),
	    cmocka_unit_test(test_mkdir_twice),
	    cmocka_unit_test(test_read_before_trunc),
	    cmocka_unit_test(test_trunc_after_rename_away),
	    cmocka_unit_test(test_settled_indet),
	    cmocka_unit_test(test_several_and_dropped),
	    cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_indet_create_reused_ino),
	    cmocka_unit_test(test_value_of_other_inode),
	    cmocka_unit_test(test_generated_scale),
	    cmocka_unit_test(test_generated_stale),
	    cmocka_unit_test(test_malformed_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
