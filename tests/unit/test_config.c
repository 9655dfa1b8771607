/* Unit tests for the chainfs.conf parser and the TLS helpers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"

#define TEST_HANDSHAKE_ROUNDS 200

/* Removes one entry of a temporary tree. */
static int
test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Removes a temporary tree. */
static void
test_rmtree(const char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh temporary directory; the caller frees and removes it. */
static char *
test_tmpdir(void)
{
	char *dir = strdup("/tmp/chainfs-test-config.XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

/* Writes text to dir/file. */
static void
test_write(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Parses text that must be accepted. */
static void
test_parse_ok(struct cfs_conf *conf, const char *text)
{
	char err[512] = "";
	int rc = cfs_conf_parse(conf, text, strlen(text), "t.conf", err, sizeof(err));

	if (rc != 0)
		fail_msg("rejected: %s", err);
}

/* Parses text that must be refused with "t.conf:LINE: ..." (line 0: "t.conf: ...") naming word. */
static void
test_parse_bad(const char *text, size_t line, const char *word)
{
	struct cfs_conf conf;
	char err[512] = "", prefix[64];
	int rc = cfs_conf_parse(&conf, text, strlen(text), "t.conf", err, sizeof(err));

	if (rc != -1)
		fail_msg("accepted: %s", text);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "t.conf:%zu: ", line);
	else
		snprintf(prefix, sizeof(prefix), "t.conf: ");
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, word) == NULL)
		fail_msg("for %s\nexpected '%s...%s', got '%s'", text, prefix, word, err);
	assert_null(strchr(err, '\n'));
	/* A failed parse leaves nothing to free; freeing again is harmless. */
	assert_int_equal(conf.nnodes, 0);
	assert_null(conf.path);
	cfs_conf_free(&conf);
}

/* A complete file with every keyword, comments, tabs and relative paths. */
static void
test_conf_full(void **state)
{
	char *dir = test_tmpdir(), *real, path[PATH_MAX], want[PATH_MAX * 2];
	struct cfs_conf conf;
	char err[512] = "";

	test_write(dir, "chainfs.conf",
	           "# chainfs cluster\n"
	           "\n"
	           "ca\tca.crt\t\t# the cluster CA\n"
	           "  cert /etc/chainfs/node.crt\n"
	           "key /etc/chainfs/node.key   \n"
	           "plaintext no\n"
	           "sync-interval 250\n"
	           "map-size 2G\n"
	           "   # indented comment\n"
	           "node a 10.0.0.1:7100 data /var/lib/chainfs\n"
	           "node b host-b.example.org:7101 data data/b cert b.crt key keys/b.key\n"
	           "node\tc [::1]:7102\t#tail\n"
	           "node d hostd\n");
	snprintf(path, sizeof(path), "%s/chainfs.conf", dir);
	if (cfs_conf_load(&conf, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	real = realpath(dir, NULL);
	assert_non_null(real);
	assert_string_equal(conf.path, path);
	snprintf(want, sizeof(want), "%s/ca.crt", real);
	assert_string_equal(conf.ca, want);
	assert_string_equal(conf.cert, "/etc/chainfs/node.crt");
	assert_string_equal(conf.key, "/etc/chainfs/node.key");
	assert_int_equal(conf.plaintext, 0);
	assert_int_equal(conf.sync_interval_ms, 250);
	assert_int_equal(conf.map_size, 2ULL << 30);
	assert_int_equal(conf.nnodes, 4);

	assert_string_equal(conf.nodes[0].addr.name, "a");
	assert_string_equal(conf.nodes[0].addr.host, "10.0.0.1");
	assert_int_equal(conf.nodes[0].addr.port, 7100);
	assert_string_equal(conf.nodes[0].data_dir, "/var/lib/chainfs");
	assert_null(conf.nodes[0].cert);
	assert_null(conf.nodes[0].key);

	assert_string_equal(conf.nodes[1].addr.host, "host-b.example.org");
	assert_int_equal(conf.nodes[1].addr.port, 7101);
	snprintf(want, sizeof(want), "%s/data/b", real);
	assert_string_equal(conf.nodes[1].data_dir, want);
	snprintf(want, sizeof(want), "%s/b.crt", real);
	assert_string_equal(conf.nodes[1].cert, want);
	assert_string_equal(cfs_conf_node_cert(&conf, 1), want);
	snprintf(want, sizeof(want), "%s/keys/b.key", real);
	assert_string_equal(cfs_conf_node_key(&conf, 1), want);

	assert_string_equal(conf.nodes[2].addr.name, "c");
	assert_string_equal(conf.nodes[2].addr.host, "::1");
	assert_int_equal(conf.nodes[2].addr.port, 7102);
	assert_null(conf.nodes[2].data_dir);
	assert_string_equal(cfs_conf_node_cert(&conf, 2), "/etc/chainfs/node.crt");
	assert_string_equal(cfs_conf_node_key(&conf, 2), "/etc/chainfs/node.key");

	assert_string_equal(conf.nodes[3].addr.host, "hostd");
	assert_int_equal(conf.nodes[3].addr.port, CFS_DEFAULT_PORT);

	assert_int_equal(cfs_conf_node_index(&conf, "a"), 0);
	assert_int_equal(cfs_conf_node_index(&conf, "c"), 2);
	assert_int_equal(cfs_conf_node_index(&conf, "z"), -1);
	assert_null(cfs_conf_node_cert(&conf, 4));
	cfs_conf_free(&conf);
	assert_int_equal(conf.nnodes, 0);
	cfs_conf_free(&conf);
	free(real);
	test_rmtree(dir);
	free(dir);
}

/* Defaults, plaintext without TLS files, CRLF line ends, no final newline. */
static void
test_conf_defaults(void **state)
{
	struct cfs_conf conf;

	test_parse_ok(&conf, "plaintext yes\r\nnode only 127.0.0.1:7100\r\n# end");
	assert_int_equal(conf.plaintext, 1);
	assert_int_equal(conf.sync_interval_ms, CFS_DEFAULT_SYNC_MS);
	assert_int_equal(conf.map_size, 64ULL << 30);
	assert_null(conf.ca);
	assert_int_equal(conf.nnodes, 1);
	assert_string_equal(conf.nodes[0].addr.host, "127.0.0.1");
	assert_string_equal(conf.path, "t.conf");
	cfs_conf_free(&conf);

	/* cfs_conf_parse keeps relative paths as written. */
	test_parse_ok(&conf, "ca ca.crt\nnode n h:1 cert n.crt key n.key\n");
	assert_string_equal(conf.ca, "ca.crt");
	assert_string_equal(cfs_conf_node_cert(&conf, 0), "n.crt");
	cfs_conf_free(&conf);

	/* Exactly CFS_MAX_NODES nodes are fine. */
	{
		char *text = malloc(CFS_MAX_NODES * 40 + 32);
		size_t len;

		assert_non_null(text);
		len = (size_t)sprintf(text, "plaintext yes\n");
		for (int i = 0; i < CFS_MAX_NODES; i++)
			len += (size_t)sprintf(text + len, "node n%d h:%d\n", i, 7100 + i);
		test_parse_ok(&conf, text);
		assert_int_equal(conf.nnodes, CFS_MAX_NODES);
		cfs_conf_free(&conf);
		free(text);
	}
}

/* The failover keys: etcd endpoints, cluster, lease TTL, log retention, and their errors. */
static void
test_conf_coordinator(void **state)
{
	struct cfs_conf conf;

	test_parse_ok(&conf, "plaintext yes\nnode a h:1\n");
	assert_int_equal(conf.netcd, 0);
	assert_string_equal(conf.cluster, "chainfs");
	assert_int_equal(conf.lease_ttl_s, CFS_DEFAULT_LEASE_TTL);
	assert_int_equal(conf.log_retain, CFS_DEFAULT_LOG_RETAIN);
	assert_int_equal(conf.output_budget, CFS_DEFAULT_OUTPUT_BUDGET);
	assert_int_equal(conf.client_output_max, CFS_DEFAULT_CLIENT_OUTPUT_MAX);
	assert_int_equal(conf.lock_lease_s, CFS_DEFAULT_LOCK_LEASE);
	cfs_conf_free(&conf);
	test_parse_ok(&conf, "plaintext yes\nsession-ttl 60\nlock-lease 4\nexport admin no-root-squash\n"
			     "export web-* read-only all-squash anon-uid 33 anon-gid 34\n"
			     "export build-* uids 2000-2999,4000 gids 2000-2999\nnode a h:1\n");
	assert_int_equal(conf.session_ttl_s, 60);
	assert_int_equal(conf.lock_lease_s, 4);
	assert_int_equal(conf.nexports, 3);
	{
		const struct cfs_export *x = cfs_conf_export(&conf, "admin");

		assert_false(x->root_squash);
		assert_false(x->read_only);
		x = cfs_conf_export(&conf, "web-7");
		assert_true(x->read_only && x->all_squash && x->root_squash);
		assert_int_equal(x->anon_uid, 33);
		assert_int_equal(x->anon_gid, 34);
		x = cfs_conf_export(&conf, "build-1");
		assert_int_equal(x->nuids, 2);
		assert_int_equal(x->uids[0].lo, 2000);
		assert_int_equal(x->uids[0].hi, 2999);
		assert_int_equal(x->uids[1].lo, 4000);
		assert_int_equal(x->uids[1].hi, 4000);
		assert_int_equal(x->ngids, 1);
		x = cfs_conf_export(&conf, "laptop");
		assert_true(x == &cfs_export_default);
		assert_true(x->root_squash);
		assert_int_equal(x->anon_uid, CFS_ANON_ID);
	}
	cfs_conf_free(&conf);
	test_parse_ok(&conf, "plaintext yes\noutput-budget 1G\nclient-output-max 3M\nnode a h:1\n");
	assert_int_equal(conf.output_budget, 1ULL << 30);
	assert_int_equal(conf.client_output_max, 3ULL << 20);
	cfs_conf_free(&conf);
	test_parse_ok(&conf, "plaintext yes\ncoordinator etcd http://10.0.0.1:2379,"
			     "https://e2.example:2379\ncluster prod-1\nlease-ttl 5\n"
			     "log-retain 77\nnode a h:1\n");
	assert_int_equal(conf.netcd, 2);
	assert_string_equal(conf.etcd[0], "http://10.0.0.1:2379");
	assert_string_equal(conf.etcd[1], "https://e2.example:2379");
	assert_string_equal(conf.cluster, "prod-1");
	assert_int_equal(conf.lease_ttl_s, 5);
	assert_int_equal(conf.log_retain, 77);
	cfs_conf_free(&conf);

	test_parse_bad("plaintext yes\ncoordinator zookeeper http://h:1\nnode a h:1\n", 2,
		       "only etcd");
	test_parse_bad("plaintext yes\ncoordinator etcd\nnode a h:1\n", 2, "missing argument");
	test_parse_bad("plaintext yes\ncoordinator etcd h:2379\nnode a h:1\n", 2,
		       "not http://HOST:PORT");
	test_parse_bad("plaintext yes\ncoordinator etcd http://h\nnode a h:1\n", 2,
		       "not http://HOST:PORT");
	test_parse_bad("plaintext yes\ncoordinator etcd http://h:0\nnode a h:1\n", 2, "bad port");
	test_parse_bad("plaintext yes\ncoordinator etcd http://h:99999\nnode a h:1\n", 2,
		       "bad port");
	test_parse_bad("plaintext yes\ncoordinator etcd http://h:1/x\nnode a h:1\n", 2,
		       "bad port");
	test_parse_bad("plaintext yes\ncoordinator etcd http://h:1\ncoordinator etcd "
		       "http://h:2\nnode a h:1\n",
		       3, "given twice");
	test_parse_bad("plaintext yes\ncoordinator etcd ,\nnode a h:1\n", 2, "no endpoint");
	test_parse_bad("plaintext yes\nlease-ttl 1\nnode a h:1\n", 2, "2..60");
	test_parse_bad("plaintext yes\nlease-ttl 61\nnode a h:1\n", 2, "2..60");
	test_parse_bad("plaintext yes\nlog-retain 0\nnode a h:1\n", 2, "log-retain");
	test_parse_bad("plaintext yes\ncluster a/b\nnode a h:1\n", 2, "cluster");
	test_parse_bad("plaintext yes\noutput-budget 512K\nnode a h:1\n", 2, "1M..64G");
	test_parse_bad("plaintext yes\nsession-ttl 5\nnode a h:1\n", 2, "session-ttl");
	test_parse_bad("plaintext yes\nlock-lease 1\nnode a h:1\n", 2, "lock-lease");
	test_parse_bad("plaintext yes\nlock-lease 3601\nnode a h:1\n", 2, "lock-lease");
	test_parse_bad("plaintext yes\nexport\nnode a h:1\n", 2, "missing argument");
	test_parse_bad("plaintext yes\nexport a frobnicate\nnode a h:1\n", 2,
		       "unknown option 'frobnicate'");
	test_parse_bad("plaintext yes\nexport a anon-uid 0\nnode a h:1\n", 2, "never root");
	test_parse_bad("plaintext yes\nexport a uids 5-2\nnode a h:1\n", 2, "ranges");
	test_parse_bad("plaintext yes\nexport a uids\nnode a h:1\n", 2, "ranges");
	test_parse_bad("plaintext yes\nexport a root-squash no-root-squash\nnode a h:1\n", 2,
		       "twice");
	test_parse_bad("plaintext yes\nexport a\nexport a read-only\nnode a h:1\n", 3,
		       "given twice");
	test_parse_bad("plaintext yes\nclient-output-max lots\nnode a h:1\n", 2,
		       "client-output-max: bad size 'lots'");
	test_parse_bad("plaintext yes\noutput-budget 65G\nnode a h:1\n", 2, "output-budget");
}

/* Every statement-level error names the line and the problem. */
static void
test_conf_errors(void **state)
{
	static const struct {
		const char *text;
		size_t line;
		const char *word;
	} cases[] = {
	    {"plaintext yes\n\nnod a h:1\n", 3, "unknown keyword 'nod'"},
	    {"plaintext yes\nca\nnode a h:1\n", 2, "missing argument"},
	    {"plaintext yes\nca a b\nnode a h:1\n", 2, "extra argument 'b'"},
	    {"plaintext\nnode a h:1\n", 1, "missing argument"},
	    {"plaintext maybe\nnode a h:1\n", 1, "yes or no"},
	    {"plaintext yes\nsync-interval 10x\nnode a h:1\n", 2, "bad number"},
	    {"plaintext yes\nsync-interval 0\nnode a h:1\n", 2, "bad number"},
	    {"plaintext yes\nsync-interval -5\nnode a h:1\n", 2, "bad number"},
	    {"plaintext yes\nsync-interval 99999999999999999999\nnode a h:1\n", 2, "bad number"},
	    {"plaintext yes\nmap-size 12Q\nnode a h:1\n", 2, "bad size"},
	    {"plaintext yes\nmap-size G\nnode a h:1\n", 2, "bad size"},
	    {"plaintext yes\nmap-size 4K\nnode a h:1\n", 2, "minimum"},
	    {"plaintext yes\nplaintext no\nnode a h:1\n", 2, "given twice (first on line 1)"},
	    {"plaintext yes\nnode a\n", 2, "needs a name and an address"},
	    {"plaintext yes\nnode\n", 2, "needs a name"},
	    {"plaintext yes\nnode a/b h:1\n", 2, "bad character"},
	    {"plaintext yes\nnode a\xc3\xa9 h:1\n", 2, "bad character"},
	    {"plaintext yes\nnode "
	     "n2345678901234567890123456789012345678901234567890123456789012345 h:1\n",
	     2, "too long"},
	    {"plaintext yes\nnode a h:0\n", 2, "out of range"},
	    {"plaintext yes\nnode a h:65536\n", 2, "out of range"},
	    {"plaintext yes\nnode a h:99999999999999999999\n", 2, "out of range"},
	    {"plaintext yes\nnode a h:http\n", 2, "not a number"},
	    {"plaintext yes\nnode a h:\n", 2, "missing port"},
	    {"plaintext yes\nnode a :7100\n", 2, "empty host"},
	    {"plaintext yes\nnode a []:7100\n", 2, "empty host"},
	    {"plaintext yes\nnode a [h]:7100\n", 2, "not an IPv6 address"},
	    {"plaintext yes\nnode a [::1\n", 2, "missing ']'"},
	    {"plaintext yes\nnode a fe80::1:7100:zz\n", 2, "brackets"},
	    {"plaintext yes\nnode a h!x:7100\n", 2, "bad character"},
	    {"plaintext yes\nnode a h:1\nnode b h:2\nnode a g:1\n", 4,
	     "duplicate node name 'a' (first on line 2)"},
	    {"plaintext yes\nnode a h:1\n\nnode b H:1\n", 4,
	     "duplicate address 'H:1' (node 'a' on line 2)"},
	    {"plaintext yes\nnode a h:1 port 3\n", 2, "unknown node option 'port'"},
	    {"plaintext yes\nnode a h:1 data\n", 2, "'data' needs an argument"},
	    {"plaintext yes\nnode a h:1 data x data y\n", 2, "'data' given twice"},
	    {"plaintext yes\nnode a h:1 cert x key\n", 2, "'key' needs an argument"},
	    {"plaintext yes\nnode a h:1\nnode b h:2 x y z w\n", 3, "unknown node option 'x'"},
	    {"plaintext yes\nnode a h:1\nnode b h:2\0\n", 3, "NUL"},
	    {"plaintext yes\n"
	     "node a h:1 a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a\n",
	     2, "too many words"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* The NUL case relies on the explicit length; the others are strings. */
		if (strstr(cases[i].word, "NUL") != NULL) {
			static const char text[] = "plaintext yes\nnode a h:1\nnode b h:2\0\n";
			struct cfs_conf conf;
			char err[256];

			assert_int_equal(cfs_conf_parse(&conf, text, sizeof(text) - 1, "t.conf",
			                                err, sizeof(err)),
			                 -1);
			assert_string_equal(err, "t.conf:3: NUL character in line");
			continue;
		}
		test_parse_bad(cases[i].text, cases[i].line, cases[i].word);
	}
}

/* The per-node metrics endpoint: parsed, optional, with its own errors. */
static void
test_conf_metrics(void **state)
{
	static const struct {
		const char *text;
		size_t line;
		const char *word;
	} bad[] = {
	    {"plaintext yes\nnode a h:1 metrics\n", 2, "'metrics' needs an argument"},
	    {"plaintext yes\nnode a h:1 metrics m:9 metrics m:10\n", 2, "'metrics' given twice"},
	    {"plaintext yes\nnode a h:1 metrics 127.0.0.1\n", 2, "bad metrics address"},
	    {"plaintext yes\nnode a h:1 metrics 127.0.0.1\n", 2, "has no port"},
	    {"plaintext yes\nnode a h:1 metrics ::1\n", 2, "has no port"},
	    {"plaintext yes\nnode a h:1 metrics [::1]\n", 2, "has no port"},
	    {"plaintext yes\nnode a h:1 metrics :9100\n", 2, "empty host"},
	    {"plaintext yes\nnode a h:1 metrics m:\n", 2, "missing port"},
	    {"plaintext yes\nnode a h:1 metrics m:0\n", 2, "out of range"},
	    {"plaintext yes\nnode a h:1 metrics m:65536\n", 2, "out of range"},
	    {"plaintext yes\nnode a h:1 metrics m:http\n", 2, "not a number"},
	    {"plaintext yes\nnode a h:1 metrics m!x:9\n", 2, "bad character"},
	    {"plaintext yes\nnode a h:1 metrics [m]:9\n", 2, "not an IPv6 address"},
	    {"plaintext yes\nnode a h:1 metrics fe80::1:9100\n", 2, "brackets"},
	    {"plaintext yes\nmetrics 127.0.0.1:9100\nnode a h:1\n", 2, "unknown keyword"},
	    {"plaintext yes\nnode a h:1 metrics H:1\n", 2,
	     "node 'a': duplicate metrics address 'H:1' (the address of node 'a' on line 2)"},
	    {"plaintext yes\nnode a h:1 metrics h:2\n\nnode b h:2\n", 2,
	     "duplicate metrics address 'h:2' (the address of node 'b' on line 4)"},
	    {"plaintext yes\nnode a h:1 metrics m:9\nnode b h:2 metrics M:9\n", 3,
	     "duplicate metrics address 'M:9' (the metrics address of node 'a' on line 2)"},
	    /* A node's own address is on its own machine, loopback or not. */
	    {"plaintext yes\nnode a 127.0.0.1:7100 metrics 127.0.0.1:7100\n", 2,
	     "duplicate metrics address '127.0.0.1:7100' (the address of node 'a' on line 2)"},
	};
	struct cfs_conf conf;

	test_parse_ok(&conf, "plaintext yes\n"
	                     "node a 127.0.0.1:7100 metrics 127.0.0.1:9100\n"
	                     "node b h:7101 metrics [::1]:9101 data d\n"
	                     "node c h:7102 data d metrics m:7100\n"
	                     "node d h:7103\n");
	assert_int_equal(conf.nnodes, 4);
	assert_string_equal(conf.nodes[0].metrics.host, "127.0.0.1");
	assert_int_equal(conf.nodes[0].metrics.port, 9100);
	assert_string_equal(conf.nodes[1].metrics.host, "::1");
	assert_int_equal(conf.nodes[1].metrics.port, 9101);
	assert_string_equal(conf.nodes[1].data_dir, "d");
	/* Same port as a node, other host: fine. */
	assert_string_equal(conf.nodes[2].metrics.host, "m");
	assert_int_equal(conf.nodes[2].metrics.port, 7100);
	assert_int_equal(conf.nodes[3].metrics.port, 0);
	assert_string_equal(conf.nodes[3].metrics.host, "");
	cfs_conf_free(&conf);

	/* Loopback is each host's own: the same endpoint on every node line is fine. */
	test_parse_ok(&conf, "plaintext yes\n"
	                     "node a 10.0.0.1:7100 metrics 127.0.0.1:9100\n"
	                     "node b 10.0.0.2:7100 metrics 127.0.0.1:9100\n"
	                     "node c 10.0.0.3:7100 metrics localhost:9100\n"
	                     "node d 10.0.0.4:7100 metrics [::1]:9100\n"
	                     "node e 10.0.0.5:7100 metrics [::1]:9100\n");
	assert_int_equal(conf.nodes[1].metrics.port, 9100);
	assert_string_equal(conf.nodes[4].metrics.host, "::1");
	cfs_conf_free(&conf);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_parse_bad(bad[i].text, bad[i].line, bad[i].word);
}

/* Whole-file checks: no node, missing TLS files, too many nodes, unreadable file. */
static void
test_conf_file_errors(void **state)
{
	struct cfs_conf conf;
	char err[512], *text, *dir;
	size_t len;

	test_parse_bad("", 0, "no node defined");
	test_parse_bad("# nothing\n\n\t\nplaintext yes\n", 0, "no node defined");
	test_parse_bad("cert c\nkey k\nnode a h:1\n", 0, "no 'ca'");
	test_parse_bad("ca ca.crt\nkey k\nnode a h:1 cert a.crt\nnode b h:2\n", 4,
	               "node 'b' has no cert");
	test_parse_bad("ca ca.crt\ncert c\n\nnode a h:1\n", 4, "node 'a' has no key");
	test_parse_bad("ca ca.crt\nnode a h:1 cert a.crt key a.key\nnode b h:2 cert b.crt\n", 3,
	               "node 'b' has no key");

	text = malloc((CFS_MAX_NODES + 1) * 40 + 32);
	assert_non_null(text);
	len = (size_t)sprintf(text, "plaintext yes\n");
	for (int i = 0; i <= CFS_MAX_NODES; i++)
		len += (size_t)sprintf(text + len, "node n%d h:%d\n", i, 7100 + i);
	test_parse_bad(text, CFS_MAX_NODES + 2, "too many nodes");
	free(text);

	dir = test_tmpdir();
	{
		char path[PATH_MAX], want[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/missing.conf", dir);
		assert_int_equal(cfs_conf_load(&conf, path, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
		assert_string_equal(err, want);
		/* A directory opens but cannot be read. */
		assert_int_equal(cfs_conf_load(&conf, dir, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s: cannot read: %s", dir, strerror(EISDIR));
		assert_string_equal(err, want);
		/* Errors from a file carry its path. */
		test_write(dir, "bad.conf", "plaintext yes\nnode a h:1\nbogus 1\n");
		snprintf(path, sizeof(path), "%s/bad.conf", dir);
		assert_int_equal(cfs_conf_load(&conf, path, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s:3: unknown keyword 'bogus'", path);
		assert_string_equal(err, want);
	}
	test_rmtree(dir);
	free(dir);

	/* A short error buffer is cut, not overrun. */
	assert_int_equal(cfs_conf_parse(&conf, "nod", 3, "t.conf", err, 8), -1);
	assert_string_equal(err, "t.conf:");
}

/* Node lists as given on command lines. */
static void
test_node_list(void **state)
{
	struct cfs_node_addr a[4];
	char err[256];

	assert_int_equal(cfs_parse_node_list("h1:7100,h2:7101,[::1]:7102", a, 4, err, sizeof(err)),
	                 3);
	assert_string_equal(a[0].host, "h1");
	assert_int_equal(a[0].port, 7100);
	assert_string_equal(a[1].host, "h2");
	assert_int_equal(a[1].port, 7101);
	assert_string_equal(a[2].host, "::1");
	assert_int_equal(a[2].port, 7102);
	assert_string_equal(a[2].name, "");

	assert_int_equal(
	    cfs_parse_node_list("node1,10.1.2.3,[fe80::1],::1", a, 4, err, sizeof(err)), 4);
	assert_string_equal(a[0].host, "node1");
	assert_int_equal(a[0].port, CFS_DEFAULT_PORT);
	assert_string_equal(a[1].host, "10.1.2.3");
	assert_int_equal(a[1].port, CFS_DEFAULT_PORT);
	assert_string_equal(a[2].host, "fe80::1");
	assert_int_equal(a[2].port, CFS_DEFAULT_PORT);
	assert_string_equal(a[3].host, "::1");
	assert_int_equal(a[3].port, CFS_DEFAULT_PORT);
	assert_int_equal(cfs_parse_node_list("h:65535", a, 1, err, sizeof(err)), 1);
	assert_int_equal(a[0].port, 65535);
	/* '+' separates as ',' does (a mount source without commas). */
	assert_int_equal(cfs_parse_node_list("h1:7100+[::1]:7102,h3", a, 4, err, sizeof(err)), 3);
	assert_string_equal(a[0].host, "h1");
	assert_int_equal(a[0].port, 7100);
	assert_string_equal(a[1].host, "::1");
	assert_int_equal(a[1].port, 7102);
	assert_string_equal(a[2].host, "h3");
	assert_int_equal(a[2].port, CFS_DEFAULT_PORT);

	static const struct {
		const char *s;
		const char *word;
	} bad[] = {
	    {"", "empty node list"},         {"h1,,h2", "empty entry"}, {"h1,", "empty entry"},
	    {",h1", "empty entry"},          {"h:0", "out of range"},   {"h:65536", "out of range"},
	    {"h:x", "not a number"},         {"h:", "missing port"},    {":7100", "empty host"},
	    {"[::1]x", "expected"},          {"[::1", "missing ']'"},   {"[zz]:1", "not an IPv6"},
	    {"a b:1", "bad character"},      {"h:-1", "not a number"},  {"h:+1", "missing port"},
	    {"a,b,c,d,e", "too many nodes"}, {"h1++h2", "empty entry"}, {"h1+", "empty entry"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (cfs_parse_node_list(bad[i].s, a, 4, err, sizeof(err)) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (strstr(err, bad[i].word) == NULL)
			fail_msg("'%s': expected '%s', got '%s'", bad[i].s, bad[i].word, err);
	}
}

/* Sizes with and without suffixes, and what must be refused. */
static void
test_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"64K", 64ULL << 10},
	    {"64k", 64ULL << 10},
	    {"64M", 64ULL << 20},
	    {"64G", 64ULL << 30},
	    {"1T", 1ULL << 40},
	    {"16777215T", 16777215ULL << 40},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const char *bad[] = {
	    "",
	    "K",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "1KB",
	    "1X",
	    "1.5G",
	    "0x10",
	    "16777216T",
	    "18446744073709551616",
	    "99999999999999999999999",
	    "1Kx",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		if (cfs_parse_size(good[i].s, &v) != 0)
			fail_msg("refused '%s'", good[i].s);
		assert_int_equal(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (cfs_parse_size(bad[i], &v) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(v, 12345);
	}
	assert_int_equal(cfs_parse_size(NULL, &v), -1);
}

/* A CA with a node and a client, and a second, unrelated CA with the same names. */
struct test_pki {
	char *dir;
	char other[PATH_MAX];
};

/* Joins the test directory and a file name into a static buffer (one of four in turn). */
static const char *
test_file(const char *dir, const char *name)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", dir, name);
	return b;
}

/* Creates both authorities and their certificates. */
static int
test_pki_setup(void **state)
{
	struct test_pki *pki = calloc(1, sizeof(*pki));
	char err[512];

	assert_non_null(pki);
	pki->dir = test_tmpdir();
	snprintf(pki->other, sizeof(pki->other), "%s/other", pki->dir);
	assert_int_equal(mkdir(pki->other, 0700), 0);
	if (cfs_cert_make_ca(pki->dir, "chainfs test CA", 30, err, sizeof(err)) != 0 ||
	    cfs_cert_make(pki->dir, "n1", CFS_TLS_KIND_NODE, "127.0.0.1,localhost,[::1]", 30, err,
	                  sizeof(err)) != 0 ||
	    cfs_cert_make(pki->dir, "alice", CFS_TLS_KIND_CLIENT, NULL, 30, err, sizeof(err)) !=
	        0 ||
	    cfs_cert_make_ca(pki->other, "rogue CA", 30, err, sizeof(err)) != 0 ||
	    cfs_cert_make(pki->other, "n1", CFS_TLS_KIND_NODE, "127.0.0.1", 30, err, sizeof(err)) !=
	        0 ||
	    cfs_cert_make(pki->other, "alice", CFS_TLS_KIND_CLIENT, "", 30, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	*state = pki;
	return 0;
}

/* Removes both authorities. */
static int
test_pki_teardown(void **state)
{
	struct test_pki *pki = *state;

	test_rmtree(pki->dir);
	free(pki->dir);
	free(pki);
	return 0;
}

/* A context from dir/ca.crt and dir/NAME.{crt,key}. */
static SSL_CTX *
test_ctx(int is_server, const char *cadir, const char *dir, const char *name)
{
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], err[512];
	SSL_CTX *ctx;

	snprintf(ca, sizeof(ca), "%s/ca.crt", cadir);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	ctx = cfs_tls_ctx_new(is_server, ca, crt, key, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("%s", err);
	return ctx;
}

/* Outcome of one side of a handshake. */
enum test_hs { TEST_HS_PENDING, TEST_HS_DONE, TEST_HS_FAILED };

/* Advances one side; a hard error ends it. */
static void
test_hs_step(SSL *ssl, enum test_hs *st)
{
	int rc, e;

	if (*st != TEST_HS_PENDING)
		return;
	rc = SSL_do_handshake(ssl);
	if (rc == 1) {
		*st = TEST_HS_DONE;
		return;
	}
	e = SSL_get_error(ssl, rc);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		*st = TEST_HS_FAILED;
		ERR_clear_error();
	}
}

/*
 * Runs a handshake between the two contexts over a socketpair, in-process
 * and non-blocking, for a bounded number of rounds.
 */
static void
test_handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL **sp, SSL **cp, enum test_hs *ss, enum test_hs *cs)
{
	int sv[2];
	SSL *s, *c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(SSL_set_fd(s, sv[0]), 1);
	assert_int_equal(SSL_set_fd(c, sv[1]), 1);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	*ss = *cs = TEST_HS_PENDING;
	for (int i = 0; i < TEST_HANDSHAKE_ROUNDS; i++) {
		test_hs_step(c, cs);
		test_hs_step(s, ss);
		if (*ss != TEST_HS_PENDING && *cs != TEST_HS_PENDING)
			break;
		/* A refused TLS 1.3 client learns of it only when it next reads. */
		if (*ss == TEST_HS_FAILED && *cs == TEST_HS_DONE)
			break;
	}
	if (*ss == TEST_HS_PENDING || *cs == TEST_HS_PENDING)
		fail_msg("handshake did not finish in %d rounds", TEST_HANDSHAKE_ROUNDS);
	*sp = s;
	*cp = c;
}

/* Frees both ends and their sockets. */
static void
test_ssl_close(SSL *s, SSL *c)
{
	close(SSL_get_fd(s));
	close(SSL_get_fd(c));
	SSL_free(s);
	SSL_free(c);
}

/* A node and a client of the same CA complete TLS 1.3 and see each other's identity. */
static void
test_tls_handshake(void **state)
{
	struct test_pki *pki = *state;
	SSL_CTX *sctx = test_ctx(1, pki->dir, pki->dir, "n1");
	SSL_CTX *cctx = test_ctx(0, pki->dir, pki->dir, "alice");
	struct cfs_tls_peer peer;
	enum test_hs ss, cs;
	char buf[8];
	SSL *s, *c;
	int n = 0;

	test_handshake(sctx, cctx, &s, &c, &ss, &cs);
	assert_int_equal(ss, TEST_HS_DONE);
	assert_int_equal(cs, TEST_HS_DONE);
	assert_int_equal(SSL_version(s), TLS1_3_VERSION);
	assert_int_equal(SSL_version(c), TLS1_3_VERSION);

	assert_int_equal(cfs_tls_peer(s, &peer), 0);
	assert_string_equal(peer.name, "alice");
	assert_string_equal(peer.kind, CFS_TLS_KIND_CLIENT);
	assert_int_equal(cfs_tls_peer(c, &peer), 0);
	assert_string_equal(peer.name, "n1");
	assert_string_equal(peer.kind, CFS_TLS_KIND_NODE);

	/* Data flows once established. */
	assert_int_equal(SSL_write(c, "ping", 4), 4);
	for (int i = 0; i < TEST_HANDSHAKE_ROUNDS && n <= 0; i++)
		n = SSL_read(s, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);

	test_ssl_close(s, c);

	/* Node to node: both present node certificates. */
	{
		SSL_CTX *ncctx = test_ctx(0, pki->dir, pki->dir, "n1");

		test_handshake(sctx, ncctx, &s, &c, &ss, &cs);
		assert_int_equal(ss, TEST_HS_DONE);
		assert_int_equal(cfs_tls_peer(s, &peer), 0);
		assert_string_equal(peer.kind, CFS_TLS_KIND_NODE);
		test_ssl_close(s, c);
		SSL_CTX_free(ncctx);
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/* A certificate from a different CA is refused, whichever side shows it. */
static void
test_tls_other_ca(void **state)
{
	struct test_pki *pki = *state;
	struct cfs_tls_peer peer;
	enum test_hs ss, cs;
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;

	/* A client with a rogue certificate but trusting the right CA. */
	sctx = test_ctx(1, pki->dir, pki->dir, "n1");
	cctx = test_ctx(0, pki->dir, pki->other, "alice");
	test_handshake(sctx, cctx, &s, &c, &ss, &cs);
	assert_int_equal(ss, TEST_HS_FAILED);
	assert_int_not_equal(SSL_get_verify_result(s), X509_V_OK);
	assert_int_equal(cfs_tls_peer(s, &peer), -1);
	assert_string_equal(peer.name, "");
	test_ssl_close(s, c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* A client with no certificate at all. */
	sctx = test_ctx(1, pki->dir, pki->dir, "n1");
	cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx, test_file(pki->dir, "ca.crt"), NULL),
	                 1);
	test_handshake(sctx, cctx, &s, &c, &ss, &cs);
	assert_int_equal(ss, TEST_HS_FAILED);
	assert_int_equal(cfs_tls_peer(s, &peer), -1);
	test_ssl_close(s, c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);

	/* A server with a rogue certificate: the client refuses it. */
	sctx = test_ctx(1, pki->dir, pki->other, "n1");
	cctx = test_ctx(0, pki->dir, pki->dir, "alice");
	test_handshake(sctx, cctx, &s, &c, &ss, &cs);
	assert_int_equal(cs, TEST_HS_FAILED);
	assert_int_not_equal(ss, TEST_HS_DONE);
	assert_int_not_equal(SSL_get_verify_result(c), X509_V_OK);
	assert_int_equal(cfs_tls_peer(c, &peer), -1);
	test_ssl_close(s, c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* The issued certificates carry the promised subject, extensions and file modes. */
static void
test_cert_contents(void **state)
{
	struct test_pki *pki = *state;
	GENERAL_NAMES *san;
	BASIC_CONSTRAINTS *bc;
	struct stat st;
	X509 *crt;
	FILE *fp;
	int ips = 0, dns = 0;

	assert_int_equal(stat(test_file(pki->dir, "n1.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(test_file(pki->dir, "ca.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(test_file(pki->dir, "n1.crt"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	fp = fopen(test_file(pki->dir, "n1.crt"), "r");
	assert_non_null(fp);
	crt = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(crt);
	assert_int_equal(X509_get_version(crt), X509_VERSION_3);
	{
		BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(crt), NULL);

		assert_non_null(serial);
		/* 128 random bits with the top one cleared and the next one set. */
		assert_int_equal(BN_num_bits(serial), 127);
		BN_free(serial);
	}
	bc = X509_get_ext_d2i(crt, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_int_equal(bc->ca, 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_extended_key_usage(crt) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(crt) & XKU_SSL_CLIENT);
	assert_true(X509_get_key_usage(crt) & KU_DIGITAL_SIGNATURE);
	san = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);

		if (gn->type == GEN_IPADD)
			ips++;
		else if (gn->type == GEN_DNS)
			dns++;
	}
	GENERAL_NAMES_free(san);
	assert_int_equal(ips, 2);
	assert_int_equal(dns, 1);
	assert_int_equal(X509_check_host(crt, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(crt, "::1", 0), 1);
	X509_free(crt);

	fp = fopen(test_file(pki->dir, "ca.crt"), "r");
	assert_non_null(fp);
	crt = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(crt);
	assert_int_equal(X509_check_ca(crt), 1);
	assert_true(X509_get_key_usage(crt) & KU_KEY_CERT_SIGN);
	X509_free(crt);
}

/* Existing keys and certificates are never overwritten, and bad requests are refused. */
static void
test_cert_refusals(void **state)
{
	struct test_pki *pki = *state;
	char err[512], before[4096], after[4096];
	FILE *fp;
	size_t n1, n2;

	fp = fopen(test_file(pki->dir, "n1.key"), "r");
	assert_non_null(fp);
	n1 = fread(before, 1, sizeof(before), fp);
	fclose(fp);

	assert_int_equal(cfs_cert_make_ca(pki->dir, "again", 30, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(
	    cfs_cert_make(pki->dir, "n1", CFS_TLS_KIND_NODE, "h", 30, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	assert_non_null(strstr(err, "n1.key"));

	fp = fopen(test_file(pki->dir, "n1.key"), "r");
	assert_non_null(fp);
	n2 = fread(after, 1, sizeof(after), fp);
	fclose(fp);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);

	/* A lone existing certificate blocks too, and no key is left behind. */
	test_write(pki->dir, "lone.crt", "x\n");
	assert_int_equal(
	    cfs_cert_make(pki->dir, "lone", CFS_TLS_KIND_NODE, NULL, 30, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lone.crt already exists"));
	assert_int_equal(access(test_file(pki->dir, "lone.key"), F_OK), -1);

	assert_int_equal(
	    cfs_cert_make(pki->dir, "a/b", CFS_TLS_KIND_NODE, NULL, 30, err, sizeof(err)), -1);
	assert_int_equal(
	    cfs_cert_make(pki->dir, "ca", CFS_TLS_KIND_NODE, NULL, 30, err, sizeof(err)), -1);
	assert_int_equal(cfs_cert_make(pki->dir, "x", "admin", NULL, 30, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kind"));
	assert_int_equal(
	    cfs_cert_make(pki->dir, "x", CFS_TLS_KIND_NODE, "bad host", 30, err, sizeof(err)), -1);
	assert_int_equal(
	    cfs_cert_make(pki->dir, "x", CFS_TLS_KIND_NODE, "a,,b", 30, err, sizeof(err)), -1);
	assert_int_equal(cfs_cert_make(pki->dir, "x", CFS_TLS_KIND_NODE, NULL, 0, err, sizeof(err)),
	                 -1);
	assert_int_equal(access(test_file(pki->dir, "x.key"), F_OK), -1);
	/* No CA in the directory. */
	assert_int_equal(cfs_cert_make("/nonexistent-chainfs", "x", CFS_TLS_KIND_NODE, NULL, 30,
	                               err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "ca.crt"));
}

/* Copies file from to a new file to with mode; 0 or -1. */
static int
test_copy(const char *from, const char *to, mode_t mode)
{
	char buf[8192];
	ssize_t n;
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode), rc = 0;

	if (in < 0 || out < 0 || fchmod(out, mode) != 0)
		rc = -1;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Context errors name the file and OpenSSL's reason. */
static void
test_tls_ctx_errors(void **state)
{
	struct test_pki *pki = *state;
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], err[512];
	SSL_CTX *ctx;

	snprintf(ca, sizeof(ca), "%s/ca.crt", pki->dir);
	snprintf(crt, sizeof(crt), "%s/n1.crt", pki->dir);
	snprintf(key, sizeof(key), "%s/alice.key", pki->dir);
	assert_null(cfs_tls_ctx_new(1, ca, crt, key, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_null(cfs_tls_ctx_new(1, "/nonexistent/ca.crt", crt, key, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load CA '/nonexistent/ca.crt'"));
	assert_non_null(strstr(err, strerror(ENOENT)));
	/* A certificate where the key should be (mode 0600, or the mode check answers). */
	snprintf(key, sizeof(key), "%s/not-a-key.pem", pki->dir);
	assert_int_equal(test_copy(crt, key, 0600), 0);
	assert_null(cfs_tls_ctx_new(0, ca, crt, key, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load key"));
	/* A key that group or others can read is refused before it is even read, as ssh does. */
	snprintf(key, sizeof(key), "%s/n1-open.key", pki->dir);
	assert_int_equal(test_copy(test_file(pki->dir, "n1.key"), key, 0640), 0);
	assert_null(cfs_tls_ctx_new(0, ca, crt, key, err, sizeof(err)));
	assert_non_null(strstr(err, "readable by group or others (mode 0640)"));
	assert_int_equal(chmod(key, 0600), 0);
	ctx = cfs_tls_ctx_new(0, ca, crt, key, err, sizeof(err));
	assert_non_null(ctx);
	SSL_CTX_free(ctx);
	assert_null(cfs_tls_ctx_new(0, ca, NULL, key, err, sizeof(err)));
	assert_string_equal(cfs_tls_error(), "no OpenSSL error reported");
}

/*
 * Logs one warning and one info line with stderr sent to a file, the
 * journal's stream named in $JOURNAL_STREAM or not, and reads back what
 * the file got.
 */
static void
log_through(int journal, char *out, size_t outlen)
{
	char path[] = "/tmp/test_config_log.XXXXXX", js[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat st;
	ssize_t len;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)(journal ? st.st_ino : st.st_ino + 1));
	setenv("JOURNAL_STREAM", js, 1);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_init("test", 0, LOG_LEVEL_INFO);
	log_warnx("a warning %d", 4);
	log_info("an info line");
	log_debug("not shown");
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	len = pread(fd, out, outlen - 1, 0);
	assert_true(len >= 0);
	out[len] = '\0';
	close(fd);
	unlink(path);
}

/* On the journal's stream a line carries its syslog priority and no time; elsewhere a time and a level name. */
static void
test_log_journal(void **state)
{
	char out[512];

	(void)state;
	log_through(1, out, sizeof(out));
	assert_string_equal(out, "<4>a warning 4\n<6>an info line\n");
	/* Another file than the journal's stream (a redirection): the usual form. */
	log_through(0, out, sizeof(out));
	assert_non_null(strstr(out, " test[warn]: a warning 4\n"));
	assert_non_null(strstr(out, " test[info]: an info line\n"));
	assert_null(strchr(out, '<'));
}

/* Runs the parser tests, then the TLS tests around one shared pair of authorities. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conf_full),    cmocka_unit_test(test_conf_defaults),
	    cmocka_unit_test(test_conf_errors),  cmocka_unit_test(test_conf_file_errors),
	    cmocka_unit_test(test_node_list),    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_conf_metrics),
	    cmocka_unit_test(test_conf_coordinator),
	    cmocka_unit_test(test_log_journal),
	};
	const struct CMUnitTest tls_tests[] = {
	    cmocka_unit_test(test_tls_handshake),  cmocka_unit_test(test_tls_other_ca),
	    cmocka_unit_test(test_cert_contents),  cmocka_unit_test(test_cert_refusals),
	    cmocka_unit_test(test_tls_ctx_errors),
	};
	int failed;

	umask(022);
	failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("tls", tls_tests, test_pki_setup, test_pki_teardown);
	return failed ? 1 : 0;
}
