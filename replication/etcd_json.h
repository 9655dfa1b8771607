/*
 * Request bodies for etcd's v3 JSON gateway, private to the etcd client
 * (etcd.c).  Each returns a malloc'd NUL-terminated JSON text; keys and
 * values go out as base64, 64-bit numbers as decimal strings (ETCD.md).
 * The parsers for the answers are in etcd.h, for the unit tests.
 */
#ifndef CHAINFS_ETCD_JSON_H
#define CHAINFS_ETCD_JSON_H

#include <stddef.h>
#include <stdint.h>

char *etcd_json_put(const void *key, size_t keylen, const void *val, size_t vallen,
		    int64_t lease);
/* One key, or (prefix != 0) every key starting with key; "" is every key. */
char *etcd_json_range(const void *key, size_t keylen, int prefix);
char *etcd_json_delete(const void *key, size_t keylen);
/* Put if the key's mod_revision is mod_rev (0: if it does not exist), else read it. */
char *etcd_json_cas(const void *key, size_t keylen, int64_t mod_rev, const void *val,
		    size_t vallen, int64_t lease);
/* Delete if the key's mod_revision is mod_rev, else read it. */
char *etcd_json_cas_delete(const void *key, size_t keylen, int64_t mod_rev);
/* {"name":"n"}: {"TTL":..} for a grant, {"ID":..} for a keepalive or a revoke. */
char *etcd_json_number(const char *name, int64_t n);
/* A watch of every key starting with prefix from start_rev (0: from now). */
char *etcd_json_watch(const void *prefix, size_t prefixlen, int64_t start_rev);

#endif
