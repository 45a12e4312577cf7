// SPDX-License-Identifier: GPL-2.0
/*
 * Automatic port ownership for one half of a split network namespace (the agent's programs,
 * tools/xpuctl/src/agent.rs, which loads them with libbpf-rs and attaches them to a cgroup).
 *
 * A cgroup program runs for the sockets of every process below its cgroup, whatever their
 * network namespace, so each program first checks that the socket is in the agent's namespace.
 * The programs learn which that is from the agent itself: it puts the cookie of a socket it made
 * in self_ns[0] and binds that socket, and post_bind takes the socket's namespace cookie into
 * self_ns[1] (userspace cannot read a namespace's cookie without SO_NETNS_COOKIE, which the
 * Rust socket libraries do not offer). Until then the programs leave every socket alone.
 *
 *   bind4/bind6        before a bind takes its port: EADDRINUSE for a port the other half owns
 *                      (the agent keeps peer_ports in step with the kernel's view of the peer),
 *                      as a second bind would get in one namespace.
 *   post_bind4/6       after the bind chose its port (so also for port 0): the same check
 *                      again, against a claim that came in meanwhile, then the socket is
 *                      remembered and the agent told, which claims the port for this half.
 *   sock_release       a remembered socket goes: the agent frees the port once no socket of
 *                      the namespace uses it any more.
 *
 * Nothing here is lost silently: an event that finds the ring full is counted in lost[0], and
 * the agent then rebuilds its view from the kernel's socket tables.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define EADDRINUSE	98
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17

/* What the agent reads from events (agent.rs checks its reading against this, below). */
enum xpu_own_kind {
	XPU_OWN_BIND	= 1,
	XPU_OWN_RELEASE	= 2,
};

struct xpu_own_event {
	__u64 cookie;		/* the socket's cookie */
	__u16 port;		/* host byte order */
	__u8 kind;		/* enum xpu_own_kind */
	__u8 protocol;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u32 pad;
};

/*
 * Never written: it puts the event's layout into the skeleton (skel::types::xpu_own_event),
 * against which agent.rs checks its parser at build time.
 */
struct xpu_own_event xpu_own_event_layout;

/* [0]: the cookie of the agent's probe socket. [1]: the agent's namespace, learnt from it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} self_ns SEC(".maps");

/* Ports the other half owns (claimed there, or in its ephemeral range): 1 in their slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} peer_ports SEC(".maps");

/* Sockets that bound a port here, by cookie: the port, for their release. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u16);
} bound SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* [0]: events the ring had no room for. [1]: binds refused. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static int peer_owns(__u32 port)
{
	__u8 *v = bpf_map_lookup_elem(&peer_ports, &port);

	return v && *v;
}

/* The namespace this half is, once learnt; 0 before. */
static __u64 our_netns(void)
{
	__u32 k = 1;
	__u64 *ns = bpf_map_lookup_elem(&self_ns, &k);

	return ns ? *ns : 0;
}

static int ours(__u64 netns, __u32 protocol)
{
	__u64 ns = our_netns();

	return ns && netns == ns && (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP);
}

/* The agent's probe bind: learn its namespace. Returns whether @sk was the probe. */
static int learn(struct bpf_sock *sk, __u64 cookie)
{
	__u32 k = 0;
	__u64 *probe = bpf_map_lookup_elem(&self_ns, &k);
	__u64 ns;

	if (!probe || !*probe || *probe != cookie || our_netns())
		return 0;
	ns = bpf_get_netns_cookie(sk);
	k = 1;
	bpf_map_update_elem(&self_ns, &k, &ns, BPF_ANY);
	return 1;
}

static void report(__u64 cookie, __u16 port, __u8 kind, __u8 protocol)
{
	struct xpu_own_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(0);
		return;
	}
	e->cookie = cookie;
	e->port = port;
	e->kind = kind;
	e->protocol = protocol;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

static int check_bind(struct bpf_sock_addr *ctx)
{
	__u32 port = bpf_ntohs(ctx->user_port);

	if (!ours(bpf_get_netns_cookie(ctx), ctx->protocol))
		return 1;
	if (port && peer_owns(port)) {
		count(1);
		bpf_set_retval(-EADDRINUSE);
		return 0;
	}
	return 1;
}

SEC("cgroup/bind4")
int xpu_bind4(struct bpf_sock_addr *ctx)
{
	return check_bind(ctx);
}

SEC("cgroup/bind6")
int xpu_bind6(struct bpf_sock_addr *ctx)
{
	return check_bind(ctx);
}

static int bound_port(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	__u16 port;

	if (learn(sk, cookie) || !ours(bpf_get_netns_cookie(sk), sk->protocol))
		return 1;
	port = sk->src_port;
	if (peer_owns(port)) {
		/* The other half claimed it between bind4 and now: the bind is undone. */
		count(1);
		bpf_set_retval(-EADDRINUSE);
		return 0;
	}
	/* Without a record its release would go unseen: count it, and the agent rescans. */
	if (bpf_map_update_elem(&bound, &cookie, &port, BPF_ANY))
		count(0);
	report(cookie, port, XPU_OWN_BIND, sk->protocol);
	return 1;
}

SEC("cgroup/post_bind4")
int xpu_post_bind4(struct bpf_sock *sk)
{
	return bound_port(sk);
}

SEC("cgroup/post_bind6")
int xpu_post_bind6(struct bpf_sock *sk)
{
	return bound_port(sk);
}

SEC("cgroup/sock_release")
int xpu_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	__u16 *port = bpf_map_lookup_elem(&bound, &cookie);

	if (port) {
		report(cookie, *port, XPU_OWN_RELEASE, sk->protocol);
		bpf_map_delete_elem(&bound, &cookie);
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
