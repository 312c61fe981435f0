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

/* why a message was dropped: index into the `drops` array */
enum spright_drop {
	DROP_CROSS_CHAIN = 0,    /* destination in another chain */
	DROP_BAD_SIZE = 1,       /* message is not exactly one descriptor */
	DROP_UNKNOWN_DST = 2,    /* destination key not registered */
	DROP_UNKNOWN_SENDER = 3, /* sending socket not registered */
	DROP_KINDS = 4,
};

#endif
