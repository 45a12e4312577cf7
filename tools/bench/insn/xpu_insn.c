// SPDX-License-Identifier: GPL-2.0
/*
 * xpu_insn: a QEMU TCG plugin that counts the instructions a guest executes, and tells the
 * guest the count when it asks (make bench-cost).
 *
 *   qemu-system-x86_64 ... -plugin /path/xpu_insn.so,dir=DIR
 *
 * Every translated block adds its instruction count to one counter (a vCPU that idles in
 * hlt executes nothing, so the counter is the work the guest did, on every vCPU: under
 * -icount the vCPUs run in turn on one host thread, so the plain adds do not race). A guest
 * asks by executing the marker, an 8-byte NOP that no compiler emits
 * (nopl 0x555058(%rax,%rax,1): "XPU"); each time it does, the count goes to a new file
 * DIR/N (N = 0, 1, ...), which the guest reads through the root it shares with this
 * machine (a new name: no stale cache). tools/bench/cost.py is the guest's side.
 *
 * The declarations below are those of QEMU's plugin API version 1 (QEMU 4.2 to 8.0, so
 * Debian bookworm's 7.2) that this plugin uses; QEMU checks qemu_plugin_version.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static const unsigned char marker[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x58, 0x50, 0x55, 0x00 };
static uint64_t insns;
static unsigned long marks;
static const char *dir;

/* The guest asked: the count so far, to DIR/N. */
static void mark(unsigned int vcpu, void *udata)
{
	char path[4096];
	FILE *f;

	(void)vcpu;
	(void)udata;
	snprintf(path, sizeof(path), "%s/%lu", dir, marks++);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	fprintf(f, "%" PRIu64 "\n", insns);
	fclose(f);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (qemu_plugin_insn_size(insn) == sizeof(marker) &&
		    !memcmp(qemu_plugin_insn_data(insn), marker, sizeof(marker)))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
							       const qemu_info_t *info, int argc,
							       char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "dir=", 4))
			dir = argv[i] + 4;
	if (!dir) {
		fprintf(stderr, "xpu_insn: give dir=DIR, where the counts go\n");
		return -1;
	}
	if (!info->system_emulation) {
		fprintf(stderr, "xpu_insn: system emulation only\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return 0;
}
