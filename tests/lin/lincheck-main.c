/*
 * lincheck [--verbose] [--budget STEPS] [--max-memory MB] [--max-per-key N] HISTORY
 *
 * Checks a linwork history for linearizability and prints, per key and in
 * total, what happened and a witness for every violation.  Exit status: 0
 * linearizable, 1 a violation (or a key whose search ran out of budget),
 * 2 bad usage or a malformed history.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tests/lin/lincheck.h"
#include "tests/lin/linhist.h"

static void lincheck_main_usage(int) __attribute__((noreturn));

/* Prints usage and exits. */
static void
lincheck_main_usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: lincheck [--verbose] [--budget STEPS] [--max-memory MB] [--max-per-key N] "
	        "HISTORY\n"
	        "  HISTORY        a linwork history (- for stdin); format in tests/lin/README.md\n"
	        "  --budget       model steps per key search before giving up (default 20000000)\n"
	        "  --max-memory   MiB a key search may hold before giving up (default 2048)\n"
	        "  --max-per-key  violations reported per key (default 10)\n"
	        "exit: 0 linearizable, 1 violation or search budget exceeded, 2 bad input\n");
	exit(status);
}

/* Parses a number option in 1..max; exits on nonsense. */
static unsigned long long
lincheck_main_number(const char *opt, const char *s, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || *s == '-' || errno != 0 || v == 0 || v > max) {
		fprintf(stderr, "lincheck: %s wants a number in 1..%llu, not '%s'\n", opt, max, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"budget", required_argument, NULL, 'b'},
	    {"max-per-key", required_argument, NULL, 'm'},
	    {"max-memory", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct lincheck_opts o;
	struct lincheck_report *r;
	struct linhist *h;
	char err[1024];
	int verbose = 0, c, status;

	log_init("lincheck", 0, LOG_LEVEL_WARN);
	lincheck_opts_default(&o);
	while ((c = getopt_long(argc, argv, "vb:m:M:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = 1;
			break;
		case 'b':
			o.budget = lincheck_main_number("--budget", optarg, UINT64_MAX);
			break;
		case 'm':
			o.max_per_key =
			    (unsigned)lincheck_main_number("--max-per-key", optarg, 1000000);
			break;
		case 'M':
			o.max_memory =
			    (size_t)lincheck_main_number("--max-memory", optarg, 1u << 20) << 20;
			break;
		case 'h':
			lincheck_main_usage(0);
		default:
			lincheck_main_usage(2);
		}
	}
	if (optind != argc - 1)
		lincheck_main_usage(2);
	if (linhist_load(argv[optind], &h, err, sizeof(err)) != 0) {
		fprintf(stderr, "lincheck: %s\n", err);
		return 2;
	}
	r = lincheck_run(h, &o);
	lincheck_print(stdout, h, r, verbose);
	status = r->verdict == LINCHECK_LINEARIZABLE ? 0 : 1;
	lincheck_report_free(r);
	linhist_free(h);
	return status;
}
