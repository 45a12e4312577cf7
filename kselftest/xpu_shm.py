# SPDX-License-Identifier: GPL-2.0
# Generated from uapi/src/shm.rs by uapi/tests/python_layout.rs; do not edit.
# XPU_BLESS=1 cargo test -p xpu-uapi --test python_layout rewrites it.
"""The xpu shared-memory window layout (uapi/linux/xpu_shm.h), for the Python tools."""

MAGIC = 0x31555058
VERSION = 0x00010003
CACHE_LINE = 64
SIDE_HEADER_SPACE = 4096
MAX_QUEUES = 16
MIN_RING_SIZE = 8
MAX_RING_SIZE = 4096
DESC_F_CSUM_PARTIAL = 0x1
DESC_F_DATA_VALID = 0x2
GSO_NONE = 0
FEATURE_RSS = 0x1
FEATURE_NONCOHERENT = 0x2
STATES = {"down": 0, "ready": 1, "up": 2, "resetting": 3}

SIDE_HEADER_SIZE = 64
# (field, offset, struct format)
SIDE_HEADER = [
    ("magic", 0, "I"),
    ("version", 4, "I"),
    ("features", 8, "Q"),
    ("state", 16, "I"),
    ("generation", 20, "I"),
    ("peer_generation", 24, "I"),
    ("link_id", 28, "I"),
    ("num_queues", 32, "H"),
    ("reserved", 34, "H"),
    ("ring_size", 36, "I"),
    ("buf_size", 40, "I"),
    ("mtu", 44, "I"),
    ("ring_off", 48, "I"),
    ("cons_off", 52, "I"),
    ("data_off", 56, "I"),
    ("half_size", 60, "I"),
]

RING_PRODUCER_SIZE = 64
# (field, offset, struct format)
RING_PRODUCER = [
    ("prod", 0, "I"),
    ("prod_event", 4, "I"),
]

RING_CONSUMER_SIZE = 64
# (field, offset, struct format)
RING_CONSUMER = [
    ("cons", 0, "I"),
    ("cons_event", 4, "I"),
    ("depth", 8, "I"),
]

DESC_SIZE = 16
# (field, offset, struct format)
DESC = [
    ("off", 0, "I"),
    ("len", 4, "I"),
    ("csum_start", 8, "H"),
    ("csum_offset", 10, "H"),
    ("gso_size", 12, "H"),
    ("gso_type", 14, "B"),
    ("flags", 15, "B"),
]
