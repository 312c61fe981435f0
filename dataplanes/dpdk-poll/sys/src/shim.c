/* A thin C shim over the parts of DPDK 22.11 that D-SPRIGHT uses. DPDK's ring fast paths are
 * `static inline` in its headers, so they cannot be called through FFI directly; these
 * wrappers give them a linkable symbol. Rings carry 16-byte elements: our descriptors, by value.
 */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
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
unsigned sb_elem_size(void) { return SB_ELEM; }
