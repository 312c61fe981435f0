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
 * A descriptor whose destination is unknown, or gone (its process died and its socket left the
 * map), is not dropped but sent, unchanged, to the gateway of the sender's chain, which fails
 * the request at once. A drop would silence the sender: Linux (seen on 6.18) keeps a dropped
 * message's verdict for the socket, so every later message on it is dropped without the
 * program running (tcp_bpf_send_verdict resets the verdict after a pass or a redirect, not
 * after a drop), and a function that lost its successor could not even tell the gateway.
 * (A sender of a message across chains, or of one that is not a descriptor, is still dropped,
 * and silenced that way; the runtime's own processes send neither.)
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

/* Count `why` in `drops` and return `verdict`. */
static __always_inline int count(__u32 why, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &why);
	if (c)
		*c += 1;
	return verdict;
}

static __always_inline int drop(__u32 why)
{
	return count(why, SK_DROP);
}

/* Redirect `msg` into the receive queue of `key` that `slot` picks (SK_DROP: no such socket). */
static __always_inline int redirect(struct sk_msg_md *msg, __u32 key, __u32 slot)
{
	__u64 to = key;
	__u32 *n = bpf_map_lookup_elem(&queues, &key);
	if (n && *n > 1)
		to |= (__u64)(slot % *n) << 32;
	return bpf_msg_redirect_hash(msg, &socks, &to, BPF_F_INGRESS);
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

	__u32 slot = d->slot;
	struct spright_counter *c = bpf_map_lookup_elem(&delivered, &dst);
	if (c && redirect(msg, dst, slot) == SK_PASS) {
		c->msgs += 1;
		c->bytes += msg->size;
		return SK_PASS;
	}
	/* Unknown, or its socket is gone: to the chain's gateway (unless it is the one gone). */
	__u32 gateway = SPRIGHT_KEY(*src_chain, 0);
	if (dst != gateway && redirect(msg, gateway, slot) == SK_PASS)
		return count(RETURNED_TO_GATEWAY, SK_PASS);
	return drop(DROP_UNKNOWN_DST);
}

char LICENSE[] SEC("license") = "GPL";
