# SPDX-License-Identifier: GPL-2.0
"""The guest's side of the xpu_insn QEMU plugin (tools/bench/insn/xpu_insn.c): its counts of
the instructions executed, in all and on each vCPU (make bench-cost, make bench-scale
--icount)."""

import ctypes
import mmap
import os
import sys


class Instructions:
    """The guest's instructions so far, as the xpu_insn plugin counts them.

    Executing the plugin's marker (an 8-byte NOP no compiler emits) makes it write the count
    to a new file in XPU_INSN_DIR, which this machine's root shows us (tools/bench/insn/).
    """

    MARKER = bytes([0x0F, 0x1F, 0x84, 0x00, 0x58, 0x50, 0x55, 0x00, 0xC3])  # the NOP; ret

    def __init__(self, where):
        self.dir, self.n = where, 0
        self.page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE
                              | mmap.PROT_EXEC)
        self.page.write(self.MARKER)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(self.page))
        self.mark = ctypes.CFUNCTYPE(None)(addr)

    def mark_now(self):
        """Has the plugin note the count now; returns the note's number, for count()."""
        self.mark()
        self.n += 1
        return self.n - 1

    def note(self, note):
        """The note numbered `note`, read later (reading costs instructions): the count of all
        vCPUs, then each vCPU's."""
        path = os.path.join(self.dir, str(note))
        try:
            with open(path) as f:
                counts = [int(x) for x in f.read().split()]
        except (OSError, ValueError) as e:
            counts, why = [], e
        else:
            why = "empty"
        if not counts:
            sys.exit(f"bench: no instruction count at {path} ({why}): is QEMU running the "
                     "xpu_insn plugin (tools/lab/bench-cost.sh, bench-scale.sh --icount)?")
        return counts

    def count(self, note):
        """The instructions all vCPUs had executed when the note `note` was taken."""
        return self.note(note)[0]

    def per_vcpu(self, note):
        """The instructions each vCPU had executed when the note `note` was taken, by CPU
        number."""
        return self.note(note)[1:]
