/* Reports the C layout of spright_counters.h to the Rust layout test (src/node.rs). */
#include <stddef.h>
#include "spright_counters.h"

size_t spright_counter_size(void) { return sizeof(struct spright_counter); }
size_t spright_counter_off_msgs(void) { return offsetof(struct spright_counter, msgs); }
size_t spright_counter_off_bytes(void) { return offsetof(struct spright_counter, bytes); }
unsigned spright_drop_kinds(void) { return DROP_KINDS; }
unsigned spright_drop_value(unsigned i)
{
	static const unsigned v[] = { DROP_CROSS_CHAIN, DROP_BAD_SIZE, DROP_UNKNOWN_DST, DROP_UNKNOWN_SENDER,
				      RETURNED_TO_GATEWAY };
	return i < DROP_KINDS ? v[i] : ~0u;
}
