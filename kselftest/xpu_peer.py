#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in for the other side of a PCI-mode xpu link, from userspace.

It drives an ivshmem-doorbell function through its sysfs resource files: BAR2 is the shared
window, BAR0 has the IVPosition and Doorbell registers. In CXL mode, `--cxl BASE:SIZE` names the
window in physical memory (mapped through /dev/mem), and the function has only the doorbells.
`header` and `down` play the whole side, on a function that xpu is *not* bound to (unbind it first): a peer that xpu.ko must refuse, one
that speaks another protocol version or has another configuration. `hostile` and `poke` write
behind a bound xpu's back: a peer that misbehaves, or whose half is corrupted.

  xpu_peer.py BDF header [--version V] [--queues Q] [--ring R] [--buf B] [--state S] [--gen G]
      [--noncoherent]
      writes this function's side header (side = its fabric id), then rings the other side's
      control vector
  xpu_peer.py BDF down
      marks this function's half Down and rings the other side
  xpu_peer.py BDF hostile [--seconds S] [--seed N]
      a hostile peer: while xpu keeps driving this function (it may stay bound), writes
      random indices, event indices and descriptors (offsets, lengths, flags, GSO fields) into
      its half's rings, and rings random vectors of the other side, for S seconds
  xpu_peer.py BDF poke WORD VALUE [--queue Q]
      one scribble: writes VALUE into index word WORD (prod, prod-event, cons, cons-event) of
      queue Q's rings in this function's half (every queue's if Q is not given); xpu may stay
      bound
"""
import argparse
import ctypes
import mmap
import os
import random
import struct
import sys
import time

# The layout comes from one place: xpu_shm.py is generated from uapi/src/shm.rs (and checked
# by uapi/tests/python_layout.rs), installed next to this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xpu_shm as shm  # noqa: E402

STATES = shm.STATES
IV_POSITION, DOORBELL = 0x08, 0x0C


def fields(layout):
    return {name: (off, fmt) for name, off, fmt in layout}


HDR = fields(shm.SIDE_HEADER)
PRODUCER = fields(shm.RING_PRODUCER)
CONSUMER = fields(shm.RING_CONSUMER)
# A descriptor's fields, packed in order (they tile the struct: checked on load).
DESC_FMT = "<" + "".join(fmt for _, _, fmt in shm.DESC)
assert struct.calcsize(DESC_FMT) == shm.DESC_SIZE


def align(v, a):
    return (v + a - 1) // a * a


def ring_bytes(ring):
    """Bytes of one ring: the producer line and the descriptors."""
    return align(shm.RING_PRODUCER_SIZE + ring * shm.DESC_SIZE, shm.CACHE_LINE)


def get(win, base, name):
    off, fmt = HDR[name]
    return struct.unpack_from("<" + fmt, win, base + off)[0]


def header(half, version, queues, ring, buf, state, gen, features=0):
    """struct xpu_side_header (uapi/linux/xpu_shm.h) for this configuration."""
    ring_off = shm.SIDE_HEADER_SPACE
    cons_off = ring_off + queues * ring_bytes(ring)
    data_off = align(cons_off + queues * shm.CACHE_LINE, shm.CACHE_LINE)
    values = dict(magic=shm.MAGIC, version=version, features=features, state=state, generation=gen,
                  num_queues=queues, ring_size=ring, buf_size=buf, mtu=1500,
                  ring_off=ring_off, cons_off=cons_off, data_off=data_off, half_size=half)
    hdr = bytearray(shm.SIDE_HEADER_SIZE)
    for name, (off, fmt) in HDR.items():
        struct.pack_into("<" + fmt, hdr, off, values.get(name, 0))
    return bytes(hdr)


WORDS = {"prod": (0, PRODUCER["prod"][0]), "prod-event": (0, PRODUCER["prod_event"][0]),
         "cons": (1, CONSUMER["cons"][0]), "cons-event": (1, CONSUMER["cons_event"][0])}


def rings(win, base):
    """From the (valid) header of the half at `base`: queue count, ring size, bytes per ring,
    and the offsets of the rings, the consumer words and the data area."""
    queues, ring = get(win, base, "num_queues"), get(win, base, "ring_size")
    ring_off, cons_off, data_off = (get(win, base, f) for f in ("ring_off", "cons_off", "data_off"))
    ring_ok = shm.MIN_RING_SIZE <= ring <= shm.MAX_RING_SIZE and ring & (ring - 1) == 0
    if not (1 <= queues <= shm.MAX_QUEUES and ring_ok):
        sys.exit("xpu_peer: this half has no valid xpu header to aim at")
    return queues, ring, ring_bytes(ring), ring_off, cons_off, data_off


def poke(win, base, word, value, queue):
    queues, _, rbytes, ring_off, cons_off, _ = rings(win, base)
    consumer, at = WORDS[word]
    for q in range(queues) if queue is None else [queue]:
        if not 0 <= q < queues:
            sys.exit(f"xpu_peer: queue {q}: this half has queues 0..{queues - 1}")
        off = cons_off + q * shm.CACHE_LINE if consumer else ring_off + q * rbytes
        struct.pack_into("<I", win, base + off + at, value)


def hostile(win, regs, base, me, seconds, seed):
    """Garbage into the ring area of our half (never the header: mismatches are tested apart),
    and doorbells on random vectors of the other side."""
    rnd = random.Random(seed)
    queues, ring, rbytes, ring_off, cons_off, data_off = rings(win, base)
    dsize = ring * get(win, base, "buf_size")  # one queue's data area
    doorbell = ctypes.c_uint32.from_buffer(regs, DOORBELL)
    end = time.monotonic() + seconds
    writes = 0
    while time.monotonic() < end:
        q = rnd.randrange(queues)
        what = rnd.randrange(5)
        word = lambda: rnd.choice([0, 1, ring - 1, ring, ring + 1, 0xFFFFFFFF, rnd.getrandbits(32)])
        if what == 0:  # producer index or its event index
            struct.pack_into("<I", win, base + ring_off + q * rbytes + 4 * rnd.randrange(2), word())
        elif what == 1:  # consumer index or event index for the other side's ring
            struct.pack_into("<I", win, base + cons_off + q * shm.CACHE_LINE + 4 * rnd.randrange(2),
                             word())
        else:  # a descriptor: offset, length, csum start/offset, gso size/type, flags
            slot = (base + ring_off + q * rbytes + shm.RING_PRODUCER_SIZE
                    + rnd.randrange(ring) * shm.DESC_SIZE)
            if what == 4:
                # One that passes for a packet with a partial checksum, its start anywhere in
                # the packet or just past it, its offset within 64 bytes of the start: the
                # receiver writes it if rx-checksumming is off.
                length = rnd.choice([60, 1514, 4000, 9014])
                off = data_off + q * dsize + rnd.randrange(max(dsize - length, 1))
                struct.pack_into(DESC_FMT, win, slot, off, length, rnd.randrange(length + 2),
                                 rnd.randrange(64), 0, shm.GSO_NONE, shm.DESC_F_CSUM_PARTIAL)
            else:
                off = rnd.choice([data_off + rnd.randrange(1 << 20), rnd.getrandbits(32), 0])
                length = rnd.choice([0, 13, 14, 60, 1514, 65600, 65601, rnd.getrandbits(32)])
                struct.pack_into(DESC_FMT, win, slot, off, length, rnd.getrandbits(16),
                                 rnd.getrandbits(16), rnd.getrandbits(16), rnd.getrandbits(8),
                                 rnd.getrandbits(8))
        writes += 1
        if writes % 4 == 0:
            doorbell.value = (1 - me) << 16 | rnd.randrange(queues + 1)
            time.sleep(0.001)
    print(f"xpu_peer: {writes} hostile writes in {seconds} s")


def resource(bdf, bar):
    path = f"/sys/bus/pci/devices/{bdf}/resource{bar}"
    fd = os.open(path, os.O_RDWR | os.O_SYNC)
    size = os.fstat(fd).st_size
    return fd, mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def cxl_window(spec):
    """CXL mode's window, BASE:SIZE of physical memory (xpu's cxl_base and cxl_size), through
    /dev/mem: no device file has it (a CXL region has no resource file of its own)."""
    base, size = (int(v, 0) for v in spec.split(":"))
    # Without O_SYNC: the mapping is then cacheable, as xpu's own (memremap WB); an uncached
    # one of memory mapped WB is refused (x86 PAT: one memory type per physical page).
    fd = os.open("/dev/mem", os.O_RDWR)
    try:
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=base)
    except PermissionError:
        sys.exit("xpu_peer: /dev/mem refuses the CXL window, which xpu holds: the kernel has "
                 "CONFIG_IO_STRICT_DEVMEM (boot it with iomem=relaxed)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bdf")
    p.add_argument("--cxl", metavar="BASE:SIZE",
                   help="CXL mode: the window is this physical range (the function has the doorbells)")
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("header")
    h.add_argument("--version", type=lambda v: int(v, 0), default=shm.VERSION)
    h.add_argument("--queues", type=int, default=4)
    h.add_argument("--ring", type=int, default=256)
    h.add_argument("--buf", type=int, default=2048)
    h.add_argument("--state", choices=STATES, default="ready")
    h.add_argument("--gen", type=int, default=1)
    h.add_argument("--noncoherent", action="store_true",
                   help="say the medium is not coherent (this side writes back and invalidates)")
    sub.add_parser("down")
    ho = sub.add_parser("hostile")
    ho.add_argument("--seconds", type=float, default=5)
    ho.add_argument("--seed", type=int, default=None)
    po = sub.add_parser("poke")
    po.add_argument("word", choices=WORDS)
    po.add_argument("value", type=lambda v: int(v, 0) & 0xFFFFFFFF)
    po.add_argument("--queue", type=int, default=None)
    a = p.parse_args()

    bound = os.path.exists(f"/sys/bus/pci/devices/{a.bdf}/driver")
    if bound and a.cmd not in ("hostile", "poke"):
        sys.exit(f"xpu_peer: {a.bdf} is bound to a driver; unbind it first")
    _, regs = resource(a.bdf, 0)
    win = cxl_window(a.cxl) if a.cxl else resource(a.bdf, 2)[1]
    me = ctypes.c_uint32.from_buffer(regs, IV_POSITION).value
    if me > 1:
        sys.exit(f"xpu_peer: fabric id {me}: xpu sides are ids 0 and 1")
    half = len(win) // 2
    base = me * half
    if a.cmd == "hostile":
        hostile(win, regs, base, me, a.seconds, a.seed)
        return
    if a.cmd == "poke":
        poke(win, base, a.word, a.value, a.queue)
        return
    if a.cmd == "header":
        features = shm.FEATURE_NONCOHERENT if a.noncoherent else 0
        hdr = header(half, a.version, a.queues, a.ring, a.buf, STATES[a.state], a.gen, features)
        win[base:base + len(hdr)] = hdr
    else:
        struct.pack_into("<I", win, base + HDR["state"][0], STATES["down"])
    if not a.cxl:
        # (msync: /dev/mem's mapping is of no file, and has nothing to sync.)
        win.flush()
    # One 32-bit store: the other side's control vector (0).
    ctypes.c_uint32.from_buffer(regs, DOORBELL).value = (1 - me) << 16


if __name__ == "__main__":
    main()
