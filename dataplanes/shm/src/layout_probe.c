/* Reports the C layout of the shared descriptor to the Rust layout test. */
#include <stddef.h>
#include "spright_desc.h"

size_t spright_desc_size(void) { return sizeof(struct spright_desc); }
size_t spright_desc_off_dst(void) { return offsetof(struct spright_desc, dst); }
size_t spright_desc_off_src(void) { return offsetof(struct spright_desc, src); }
size_t spright_desc_off_slot(void) { return offsetof(struct spright_desc, slot); }
size_t spright_desc_off_gen(void) { return offsetof(struct spright_desc, gen); }
unsigned spright_key(unsigned chain, unsigned fn) { return SPRIGHT_KEY(chain, fn); }
