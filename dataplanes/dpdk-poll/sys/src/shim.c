/* A thin C shim over the parts of DPDK 22.11 that D-SPRIGHT uses. DPDK's ring fast paths are
 * `static inline` in its headers, so they cannot be called through FFI directly; these
 * wrappers give them a linkable symbol. Rings carry 16-byte elements: our descriptors, by value.
 */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#define SB_ELEM 16

int sb_eal_init(int argc, char **argv) { return rte_eal_init(argc, argv); }
int sb_errno(void) { return rte_errno; }
const char *sb_strerror(int e) { return rte_strerror(e); }

struct rte_ring *sb_ring_create(const char *name, unsigned count)
{
	return rte_ring_create_elem(name, SB_ELEM, count, SOCKET_ID_ANY, 0);
}
struct rte_ring *sb_ring_lookup(const char *name) { return rte_ring_lookup(name); }
int sb_ring_enqueue(struct rte_ring *r, const void *obj) { return rte_ring_enqueue_elem(r, (void *)obj, SB_ELEM); }
int sb_ring_dequeue(struct rte_ring *r, void *obj) { return rte_ring_dequeue_elem(r, obj, SB_ELEM); }
/* Up to n elements at once, in order, with one reservation of the ring's head (DPDK's burst
 * calls: as many as fit, or as many as are there). Return how many moved. */
unsigned sb_ring_enqueue_burst(struct rte_ring *r, const void *objs, unsigned n)
{
	return rte_ring_enqueue_burst_elem(r, objs, SB_ELEM, n, NULL);
}
unsigned sb_ring_dequeue_burst(struct rte_ring *r, void *objs, unsigned n)
{
	return rte_ring_dequeue_burst_elem(r, objs, SB_ELEM, n, NULL);
}
unsigned sb_elem_size(void) { return SB_ELEM; }

/* Optional slot storage in an rte_mempool (D-SPRIGHT's SPRIGHT_DPDK_POOL=mempool). The private
 * area holds the pool's shared counters. */
struct rte_mempool *sb_mempool_create(const char *name, unsigned n, unsigned elt_size, unsigned priv_size)
{
	return rte_mempool_create(name, n, elt_size, 0, priv_size, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
}
struct rte_mempool *sb_mempool_lookup(const char *name) { return rte_mempool_lookup(name); }
int sb_mempool_get(struct rte_mempool *mp, void **obj) { return rte_mempool_get(mp, obj); }
void sb_mempool_put(struct rte_mempool *mp, void *obj) { rte_mempool_put(mp, obj); }
unsigned sb_mempool_avail(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }
unsigned sb_mempool_elt_size(const struct rte_mempool *mp) { return mp->elt_size; }
void *sb_mempool_priv(struct rte_mempool *mp) { return rte_mempool_get_priv(mp); }

struct sb_collect {
	void **out;
	unsigned max;
	unsigned n;
};

static void sb_collect_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct sb_collect *c = arg;
	(void)mp;
	(void)idx;
	if (c->n < c->max)
		c->out[c->n++] = obj;
}

/* Every object of the pool, in the pool's own (shared, hence identical in every process) order. */
unsigned sb_mempool_objs(struct rte_mempool *mp, void **out, unsigned max)
{
	struct sb_collect c = { out, max, 0 };
	rte_mempool_obj_iter(mp, sb_collect_obj, &c);
	return c.n;
}
