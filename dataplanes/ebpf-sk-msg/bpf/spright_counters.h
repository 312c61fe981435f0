/* What the SK_MSG program counts, shared with the driver that reads it: mirrored by
 * `BpfCounter` and `DropReason` in src/node.rs (a test compiles this header and compares sizes,
 * offsets and values).
 */
#ifndef SPRIGHT_COUNTERS_H
#define SPRIGHT_COUNTERS_H

#include <linux/types.h>

/* per destination key: messages and bytes delivered */
struct spright_counter {
	__u64 msgs;
	__u64 bytes;
};

/* why a message did not reach the destination it names: index into the `drops` array */
enum spright_drop {
	DROP_CROSS_CHAIN = 0,    /* destination in another chain */
	DROP_BAD_SIZE = 1,       /* message is not exactly one descriptor */
	DROP_UNKNOWN_DST = 2,    /* destination unknown or gone, and its chain's gateway too */
	DROP_UNKNOWN_SENDER = 3, /* sending socket not registered */
	RETURNED_TO_GATEWAY = 4, /* not dropped: destination unknown or gone, sent to the gateway */
	DROP_KINDS = 5,
};

#endif
