// SPDX-License-Identifier: GPL-2.0
/* S-SPRIGHT's in-kernel dataplane: an SK_MSG program on a SOCKHASH of function sockets.
 *
 * Each function (and the gateway) of every deployed chain owns a loopback TCP socket, stored
 * in `socks` under its key (chain << 16 | function). When a function sends a 16-byte descriptor
 * on its socket, this program runs in the sender's context, reads the destination key from the
 * descriptor and redirects the message into the destination socket's *receive* queue
 * (BPF_F_INGRESS): no TCP/IP processing, no copy of the payload (which stays in the pool), and
 * the receiver, blocked in recv(), wakes up. Idle functions therefore cost no CPU.
 *
 * A function may have several receive queues, one socket per worker (`queues` says how many):
 * the program spreads descriptors over them by pool slot, as a NIC spreads flows over its
 * queues (RSS), so every call of one request reaches the same worker and no socket is shared by
 * the workers. The socket of queue `i` is stored under `(__u64)i << 32 | key`.
 *
 * It also replaces Knative's queue-proxy metrics (per-destination message and byte counters in
 * a per-CPU hash) and enforces the chain as a security domain: the sender's chain is looked up
 * from its socket's local port, and a descriptor addressed to another chain is dropped and
 * counted, so it never reaches that chain. A message that is not exactly one descriptor is dropped
 * and counted too.
 *
 * Minimum kernel: 5.10 (SOCKHASH + SK_MSG redirect to ingress, local_port in sk_msg_md).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "spright_desc.h"
#include "spright_counters.h"

#define MAX_SOCKETS 4096

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u64); /* queue << 32 | key */
	__type(value, __u32);
} socks SEC(".maps");

/* destination key -> its number of receive queues (absent: one) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u32);
	__type(value, __u32);
} queues SEC(".maps");

/* local port of a registered socket -> its chain id */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u32);
	__type(value, __u32);
} chain_of_port SEC(".maps");

/* destination key -> messages and bytes delivered (entries created at registration) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u32);
	__type(value, struct spright_counter);
} delivered SEC(".maps");

/* drop reason -> count (the sender's chain is the key's upper half of the array index) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline int drop(__u32 why)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &why);
	if (c)
		*c += 1;
	return SK_DROP;
}

SEC("sk_msg")
int spright_redirect(struct sk_msg_md *msg)
{
	void *data = msg->data;
	void *end = msg->data_end;
	struct spright_desc *d = data;

	/* Exactly one descriptor per message: a longer one would misalign every later descriptor
	 * in the receiver's byte stream (regression, issue 12). */
	if (msg->size != sizeof(*d) || data + sizeof(*d) > end)
		return drop(DROP_BAD_SIZE);

	__u32 port = msg->local_port; /* host byte order */
	__u32 *src_chain = bpf_map_lookup_elem(&chain_of_port, &port);
	if (!src_chain)
		return drop(DROP_UNKNOWN_SENDER);

	__u32 dst = d->dst;
	if (SPRIGHT_KEY_CHAIN(dst) != *src_chain)
		return drop(DROP_CROSS_CHAIN);

	struct spright_counter *c = bpf_map_lookup_elem(&delivered, &dst);
	if (!c)
		return drop(DROP_UNKNOWN_DST);
	c->msgs += 1;
	c->bytes += msg->size;

	__u64 to = dst;
	__u32 *n = bpf_map_lookup_elem(&queues, &dst);
	if (n && *n > 1)
		to |= (__u64)(d->slot % *n) << 32;
	return bpf_msg_redirect_hash(msg, &socks, &to, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
