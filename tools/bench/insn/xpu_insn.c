// SPDX-License-Identifier: GPL-2.0
/*
 * xpu_insn: a QEMU TCG plugin that counts the instructions a guest executes, in all and on
 * each vCPU, and tells the guest the counts when it asks (make bench-cost, make bench-scale
 * --icount).
 *
 *   qemu-system-x86_64 -icount shift=0,... -plugin /path/xpu_insn.so,dir=DIR
 *
 * Every block executed adds its instruction count to its vCPU's count (a vCPU that idles in
 * hlt executes nothing, so the counts are the work the guest did; the total is their sum). A
 * guest asks by executing the marker, an 8-byte NOP that no compiler emits
 * (nopl 0x555058(%rax,%rax,1): "XPU"); each time it does, a new file DIR/N (N = 0, 1, ...)
 * gets the total, then a line per vCPU with its count; the guest reads it through the root
 * it shares with this machine (a new name: no stale cache). tools/bench/insn.py is the
 * guest's side.
 *
 * Meant for -icount, where the vCPUs run in turn on one host thread: the plain adds do not
 * race, and the guest's clock follows the total (a nanosecond an instruction at shift=0).
 * A call per block, not an inline add to a per-vCPU scoreboard: QEMU 10 with more than one
 * vCPU under -icount stops at boot ("Bad icount read") once a plugin has a scoreboard. The
 * declarations below are those of QEMU's plugin API (version 3 and later: insn_data copies)
 * that this plugin uses; the lab runs QEMU 10.
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
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 3;

static const unsigned char marker[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x58, 0x50, 0x55, 0x00 };

/* The vCPUs run in turn on one thread (-icount): plain adds do not race. */
#define MAX_VCPUS 64
static uint64_t ran[MAX_VCPUS];
static unsigned int vcpus;

static unsigned long marks;
static const char *dir;

/* The guest asked: the counts so far, to DIR/N. */
static void mark(unsigned int vcpu, void *udata)
{
	char path[4096];
	uint64_t total = 0;
	unsigned int v;
	FILE *f;

	(void)vcpu;
	(void)udata;
	snprintf(path, sizeof(path), "%s/%lu", dir, marks++);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	for (v = 0; v < vcpus; v++)
		total += ran[v];
	fprintf(f, "%" PRIu64 "\n", total);
	for (v = 0; v < vcpus; v++)
		fprintf(f, "%" PRIu64 "\n", ran[v]);
	fclose(f);
}

/* `vcpu` runs a block of `udata` instructions. */
static void block(unsigned int vcpu, void *udata)
{
	if (vcpu < vcpus)
		ran[vcpu] += (uintptr_t)udata;
}

static bool is(const struct qemu_plugin_insn *insn, const unsigned char *code, size_t len)
{
	unsigned char got[8];

	return qemu_plugin_insn_size(insn) == len && len <= sizeof(got) &&
	       qemu_plugin_insn_data(insn, got, len) == len && !memcmp(got, code, len);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, block, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (is(insn, marker, sizeof(marker)))
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
	if (info->system.max_vcpus > MAX_VCPUS) {
		fprintf(stderr, "xpu_insn: up to %d vCPUs, not %d\n", MAX_VCPUS,
			info->system.max_vcpus);
		return -1;
	}
	vcpus = info->system.max_vcpus;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return 0;
}
