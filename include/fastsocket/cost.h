/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The measurement window of the cost benchmark: the load generator in the
 * guest executes CPUID with these leaves (in EAX) and the TCG plugin
 * (tools/cost/fsk_insns.c) counts between them. Outside QEMU with the
 * plugin, CPUID with an unknown leaf just returns zeros.
 */
#ifndef _FSK_COST_H
#define _FSK_COST_H

#define FSK_COST_OPEN	0x46534b01u	/* "FSK" 01 */
#define FSK_COST_CLOSE	0x46534b02u	/* EBX: a tag, ECX: connections */

#endif /* _FSK_COST_H */
