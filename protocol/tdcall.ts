// guest <-> TDX module: TDCALL leaves issued by the TD guest (arch/x86/coco/tdx/tdx.c).
import { z } from "zod";
import { Addr, GpaWidth, Level, U64 } from "./common.ts";
import { call } from "./define.ts";

/** The TD-scope metadata fields the guest uses (tdr_tdcs_fields_lookup.c, tdx-module 1.5). */
export const TdMetadataField = z.enum(["CONFIG_FLAGS", "TD_CTLS"]);
export type TdMetadataField = z.infer<typeof TdMetadataField>;
/** CONFIG_FLAGS bit 1 and TD_CTLS bit 0 (config_flags_t, td_ctls_t; Linux TDCS_CONFIG_FLEXIBLE_PENDING_VE). */
export const CONFIG_FLEXIBLE_PENDING_VE = 0b10;
export const TD_CTLS_PENDING_VE_DISABLE = 0b1;

export const tdcalls = {
  "TDG.VP.INFO": call(
    "TDG.VP.INFO",
    "tdcall",
    "Leaf 1: TD execution environment (GPA width, so the shared bit; TD attributes).",
    {},
    {
      status: U64,
      gpaWidth: GpaWidth,
      septVeDisable: z.boolean(),
      numVcpus: z.number().int().positive(),
    },
  ),
  "TDG.VM.RD": call(
    "TDG.VM.RD",
    "tdcall",
    "Leaf 7: read a TD-scope metadata field (CONFIG_FLAGS 0x1110000300000016, TD_CTLS 0x1110000300000017).",
    { field: TdMetadataField },
    { status: U64, value: z.number().int().nonnegative() },
  ),
  "TDG.VM.WR": call(
    "TDG.VM.WR",
    "tdcall",
    "Leaf 8: write the bits of `mask` in a TD-scope metadata field; the guest may write TD_CTLS bit 0 only.",
    { field: TdMetadataField, value: z.number().int().nonnegative(), mask: z.number().int().nonnegative() },
    { status: U64 },
  ),
  "TDG.MEM.PAGE.ACCEPT": call(
    "TDG.MEM.PAGE.ACCEPT",
    "tdcall",
    "Leaf 6: accept a PENDING private page at a level; the module zeroes it with the TD key.",
    { gpa: Addr, level: Level },
    { status: U64 },
  ),
  "TDG.VP.VMCALL<MapGPA>": call(
    "TDG.VP.VMCALL<MapGPA>",
    "tdcall",
    "Leaf 0, sub-function 0x10001: ask the host to convert a GPA range (shared bit set = to shared).",
    { gpa: Addr, size: Addr },
    { status: U64, retryGpa: Addr.optional() },
  ),
  "TDG.VP.VMCALL<ReportFatalError>": call(
    "TDG.VP.VMCALL<ReportFatalError>",
    "tdcall",
    "Leaf 0, sub-function 0x10003: the guest reports a fatal error and stops (a detection).",
    { reason: z.string() },
    { status: U64 },
  ),
  "TDG.VP.VMCALL<Instruction.IO>": call(
    "TDG.VP.VMCALL<Instruction.IO>",
    "tdcall",
    "Leaf 0, exit reason 30: an OUT to a port (scenarios use POST codes on port 0x80 as milestones).",
    { port: z.number().int().min(0).max(0xffff), value: z.number().int().nonnegative() },
    { status: U64 },
  ),
  "TDG.VP.VMCALL<Instruction.HLT>": call(
    "TDG.VP.VMCALL<Instruction.HLT>",
    "tdcall",
    "Leaf 0, exit reason 12: the vCPU has nothing left to run.",
    {},
    { status: U64 },
  ),
} as const;
