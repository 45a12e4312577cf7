// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE	/* ppoll */
/*
 * xpu_xsk: the AF_XDP echo of xpu_xdp.sh.
 *
 *   xpu_xsk IFNAME QUEUE OBJ IDLE [-z]
 *
 * Attaches OBJ's program (xpu_xsk.bpf.o: UDP to port 9005 to the XSKMAP "xsks") natively to
 * IFNAME, binds an AF_XDP socket to QUEUE in copy mode and puts it in the map, prints "ready",
 * then sends every datagram it receives back through the socket's TX ring as the reply
 * (addresses and ports swapped: the checksums hold). On SIGTERM, or after IDLE seconds without
 * a packet (a bound for a test that died without stopping it), it prints "received R echoed E",
 * detaches the program and exits. The test stops it: an idle time short enough to end the echo
 * would also end it before a slow machine's sender had started. With -z it asks for zero-copy
 * instead, and exits 1 with the bind's error (xpu has no zero-copy: the frames live in the
 * shared window, not in the socket's memory).
 *
 * The rings are driven by hand (no libxdp): a UMEM of NFRAMES frames that all start in the
 * fill ring; a received frame is rewritten in place and goes out by the TX ring; its
 * completion puts it back in the fill ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define NFRAMES	256	/* also every ring's size: no ring can overflow */
#define FRAME	2048

struct ring {
	__u32 *producer;
	__u32 *consumer;
	void *desc;
};

static int ifindex;
static volatile sig_atomic_t stopped;

static void stop(int sig)
{
	(void)sig;
	stopped = 1;
}

static void detach(void)
{
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
}

static void die(const char *what)
{
	fprintf(stderr, "xpu_xsk: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void map_ring(int fd, struct ring *r, const struct xdp_ring_offset *off, off_t pgoff,
		     size_t desc_size)
{
	void *m = mmap(NULL, off->desc + NFRAMES * desc_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, pgoff);

	if (m == MAP_FAILED)
		die("mmap of a ring");
	r->producer = m + off->producer;
	r->consumer = m + off->consumer;
	r->desc = m + off->desc;
}

/* The other end's words are read with acquire, ours published with release (as libxdp). */
static __u32 load(__u32 *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void publish(__u32 *w, __u32 v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

static void swap(void *a, void *b, size_t n)
{
	unsigned char t, *x = a, *y = b;

	while (n--) {
		t = *x;
		*x++ = *y;
		*y++ = t;
	}
}

/*
 * Sent: the completions (given when the driver frees the copy it sent) put the frames back
 * in the fill ring. Returns how many.
 */
static __u32 recycle(struct ring *comp, struct ring *fill, __u32 *fill_prod)
{
	__u32 prod = load(comp->producer), cons, n = 0;

	for (cons = *comp->consumer; cons != prod; cons++, n++)
		((__u64 *)fill->desc)[(*fill_prod)++ % NFRAMES] =
			((__u64 *)comp->desc)[cons % NFRAMES];
	publish(comp->consumer, cons);
	publish(fill->producer, *fill_prod);
	return n;
}

/* Turns the IPv4 UDP datagram in @f into its reply; false if @f is not one. */
static int reply(unsigned char *f, __u32 len)
{
	struct ethhdr *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if (len < sizeof(*eth) + sizeof(*ip) + sizeof(*udp) || eth->h_proto != htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return 0;
	swap(eth->h_source, eth->h_dest, ETH_ALEN);
	swap(&ip->saddr, &ip->daddr, sizeof(ip->saddr));
	swap(&udp->source, &udp->dest, sizeof(udp->source));
	return 1;
}

int main(int argc, char **argv)
{
	struct xdp_umem_reg reg = { .len = NFRAMES * FRAME, .chunk_size = FRAME };
	struct sockaddr_xdp sxdp = { .sxdp_family = AF_XDP, .sxdp_flags = XDP_COPY };
	__u32 fill_prod = 0, tx_prod = 0, received = 0, echoed = 0, queue, i;
	struct ring fill, comp, rx, tx;
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	struct bpf_program *prog;
	struct bpf_object *obj;
	int fd, map, idle, n = NFRAMES;
	sigset_t term, unblocked;
	unsigned char *umem;

	if (argc != 5 && !(argc == 6 && !strcmp(argv[5], "-z"))) {
		fprintf(stderr, "usage: %s IFNAME QUEUE OBJ IDLE [-z]\n", argv[0]);
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex)
		die(argv[1]);
	queue = atoi(argv[2]);
	idle = atoi(argv[4]);
	if (argc == 6)
		sxdp.sxdp_flags = XDP_ZEROCOPY;

	obj = bpf_object__open_file(argv[3], NULL);
	if (!obj || bpf_object__load(obj))
		die(argv[3]);
	prog = bpf_object__find_program_by_name(obj, "xpu_xsk");
	map = bpf_object__find_map_fd_by_name(obj, "xsks");
	if (!prog || map < 0) {
		fprintf(stderr, "xpu_xsk: %s has no program xpu_xsk or map xsks\n", argv[3]);
		return 1;
	}
	if (bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, NULL))
		die("attaching natively");
	atexit(detach);

	fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0)
		die("AF_XDP socket");
	umem = mmap(NULL, reg.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (umem == MAP_FAILED)
		die("mmap of the UMEM");
	reg.addr = (__u64)(unsigned long)umem;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_RX_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)))
		die("setting up the UMEM and rings");
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		die("XDP_MMAP_OFFSETS");
	map_ring(fd, &fill, &off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(__u64));
	map_ring(fd, &comp, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(__u64));
	map_ring(fd, &rx, &off.rx, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc));
	map_ring(fd, &tx, &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc));
	for (i = 0; i < NFRAMES; i++)
		((__u64 *)fill.desc)[fill_prod++ % NFRAMES] = (__u64)i * FRAME;
	publish(fill.producer, fill_prod);

	sxdp.sxdp_ifindex = ifindex;
	sxdp.sxdp_queue_id = queue;
	if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		die(argc == 6 ? "binding in zero-copy mode" : "binding in copy mode");
	if (bpf_map_update_elem(map, &queue, &fd, 0))
		die("putting the socket in the XSKMAP");
	/*
	 * SIGTERM is blocked but in ppoll(), which unblocks it atomically: a signal that comes
	 * while a batch is being echoed waits for the next ppoll(), which it ends at once (EINTR).
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &term, &unblocked) ||
	    sigaction(SIGTERM, &(struct sigaction){ .sa_handler = stop }, NULL))
		die("SIGTERM's handler");
	/* Open in ppoll() even if our parent left it blocked. */
	sigdelset(&unblocked, SIGTERM);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		__u32 prod, cons;
		int tries;

		n = ppoll(&p, 1, &(struct timespec){ .tv_sec = idle }, &unblocked);
		if (stopped || !n)
			break;
		if (n < 0)
			die("ppoll");
		/* Received: each frame becomes its reply on the TX ring, or goes back to fill. */
		prod = load(rx.producer);
		for (cons = *rx.consumer; cons != prod; cons++) {
			struct xdp_desc *d = &((struct xdp_desc *)rx.desc)[cons % NFRAMES];

			received++;
			if (d->addr + d->len <= reg.len && reply(umem + d->addr, d->len))
				((struct xdp_desc *)tx.desc)[tx_prod++ % NFRAMES] = *d;
			else
				((__u64 *)fill.desc)[fill_prod++ % NFRAMES] = d->addr;
		}
		publish(rx.consumer, cons);
		publish(tx.producer, tx_prod);
		/*
		 * Copy mode sends from sendto(), a bounded batch per call: kick until the kernel
		 * has taken every descriptor (EAGAIN: the batch ended, ENOBUFS/EBUSY: the device's
		 * queue was full for a moment).
		 */
		for (tries = 0; load(tx.consumer) != tx_prod; tries++) {
			if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
			    errno != ENOBUFS && errno != EBUSY)
				die("sendto");
			if (tries > 1000) {
				fprintf(stderr, "xpu_xsk: the TX ring does not drain\n");
				return 1;
			}
			if (tries)
				usleep(1000);
		}
		echoed += recycle(&comp, &fill, &fill_prod);
	}
	echoed += recycle(&comp, &fill, &fill_prod);
	printf("received %u echoed %u\n", received, echoed);
	return 0;
}
