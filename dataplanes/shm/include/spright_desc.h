/* The descriptor S-SPRIGHT functions exchange through the SOCKMAP: 16 bytes, defined once here
 * and mirrored by `shm::Descriptor` (a test compiles this header and compares sizes and
 * offsets). It never carries a pointer: `slot` is an index into the chain's pool, checked
 * against `gen` and the slot's holder before any byte of the slot is read.
 *
 * `dst` comes first because the eBPF program reads it to pick the target socket: the upper 16
 * bits are the chain id (the security domain), the lower 16 bits the function id (0 = gateway).
 */
#ifndef SPRIGHT_DESC_H
#define SPRIGHT_DESC_H

#include <linux/types.h>

struct spright_desc {
	__u32 dst;  /* destination key: chain << 16 | function */
	__u32 src;  /* sender key, same encoding */
	__u32 slot; /* slot index in the chain's pool */
	__u32 gen;  /* slot generation when the request was admitted */
};

#define SPRIGHT_KEY(chain, fn) ((((__u32)(chain)) << 16) | ((__u32)(fn) & 0xffff))
#define SPRIGHT_KEY_CHAIN(key) ((key) >> 16)

#endif
