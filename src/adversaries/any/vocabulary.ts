import type { $ZodType } from "zod/v4/core";
import {
  type Address,
  type AnyCallDef,
  catalogue,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_PUNCH_HOLE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  PAGE_4K,
  type Platform,
  TDVMCALL_STATUS,
  u64,
} from "../../../protocol/index.ts";
import type { HostDomain } from "./domain.ts";

/** What the host writes when it writes: plain host data, never a secret. */
const HOST_DATA = { k: "data", writer: "host", tag: "host-written", secret: false } as const;

/** The values one field may take now, given the domain and the fields chosen before it. */
type Values = (domain: HostDomain, chosen: Record<string, unknown>) => readonly unknown[];

export interface Field {
  readonly name: string;
  readonly values: Values;
}

export interface Action {
  /** The request type. */
  readonly type: string;
  /** The boundary it crosses (seamcall, host-hvc, kvm, memory): the adversary picks one, then a call. */
  readonly boundary: string;
  readonly to: Address;
  /** Who may send it: the first is the sender when there is no choice. */
  readonly from: readonly Address[];
  readonly fields: readonly Field[];
}

const fixed =
  (...values: readonly unknown[]): Values =>
  () =>
    values;

/** Values by field name for numbers (the names the protocol uses for the same thing everywhere). */
const BY_NAME: Readonly<Record<string, Values>> = {
  gpa: (d) => d.gpas,
  // Memory attributes and guest_memfd offsets name private GPAs (attributes are per GFN, not alias).
  address: (d) => d.privateGpas(),
  offset: (d) => d.privateGpas(),
  ipa: (d) => d.gpas,
  hpa: (d) => d.frames,
  phys: (d) => d.frames,
  source: (d) => d.frames,
  pfn: (d) => d.frames.map((hpa) => hpa / PAGE_4K),
  gfn: (d) => d.gpas.map((gpa) => gpa / PAGE_4K),
  vcpu: (d) => d.vcpus,
  handle: (d) => d.handles,
  fd: (d) => d.fds,
  size: fixed(PAGE_4K),
  len: fixed(PAGE_4K),
  nr_pages: fixed(1),
  // fallocate: punch a hole (freeing the pages) or allocate.
  mode: fixed(FALLOC_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE),
  // KVM_SET_MEMORY_ATTRIBUTES: private or shared.
  attributes: fixed(KVM_MEMORY_ATTRIBUTE_PRIVATE, 0),
  flags: fixed(0),
};

/** An exit completion KVM hands back into the TD: any TDVMCALL status, any RETRY address. */
export const VMCALL_FIELDS: readonly Field[] = [
  { name: "status", values: fixed(...Object.values(TDVMCALL_STATUS).map(u64)) },
  { name: "retryGpa", values: (d) => d.gpas },
];

/** The generator of a field, or undefined if the domain has nothing for it (then the call is left out). */
function fieldOf(name: string, schema: $ZodType): Field | undefined {
  const def = schema._zod.def as { type: string; values?: unknown[]; entries?: Record<string, unknown> };
  switch (def.type) {
    case "literal":
      return { name, values: fixed(...(def.values ?? [])) };
    case "enum":
      return { name, values: fixed(...Object.values(def.entries ?? {})) };
    case "boolean":
      return { name, values: fixed(false, true) };
    case "union": {
      const options = (def as unknown as { options: $ZodType[] }).options.map(
        (option) => option._zod.def as { type: string; values?: unknown[] },
      );
      return options.every((o) => o.type === "literal")
        ? { name, values: fixed(...options.flatMap((o) => o.values ?? [])) }
        : undefined;
    }
    case "number":
      return BY_NAME[name] ? { name, values: BY_NAME[name] } : undefined;
    default:
      return undefined;
  }
}

/** Optional fields are left out, except what a write needs to say what it writes. */
function optionalFieldOf(name: string): Field | undefined {
  if (name !== "content") return undefined;
  return {
    name,
    values: (_d, chosen) => (chosen.op === "write" || chosen.op === "movdir64b" ? [HOST_DATA] : []),
  };
}

/** The boundaries a host's requests cross, per platform, and where they go. */
function routeOf(def: AnyCallDef, platform: Platform): { to: Address; from: Address[] } | undefined {
  switch (def.boundary) {
    case "seamcall":
      return platform === "tdx" ? { to: "fw", from: ["host/kvm"] } : undefined;
    case "host-hvc":
      return platform === "pkvm" ? { to: "fw", from: ["host/kvm"] } : undefined;
    case "kvm":
      // KVM_TDX_* ioctls exist only for TDs. Simplified: the TDX host model has no mmu notifier
      // for the VMM's own mappings, so madvise is a pKVM-only action here.
      if (platform === "pkvm" ? def.name.includes("_TDX_") : def.name === "madvise") return undefined;
      return { to: "host/kvm", from: ["host/vmm"] };
    case "memory":
      if (def.name === "host.access") return { to: "hw", from: ["host/kvm", "host/vmm"] };
      // pKVM has no shared EPT: the host's stage-2 belongs to EL2.
      if (def.name.startsWith("ept."))
        return platform === "tdx" ? { to: "hw", from: ["host/kvm"] } : undefined;
      if (def.name === "vcpu.kick") return { to: "hw", from: ["host/kvm"] };
      return undefined;
    default:
      return undefined;
  }
}

/** Every request a host on this platform can make with arguments from the domain. */
export function hostActions(platform: Platform): Action[] {
  const actions: Action[] = [];
  for (const def of catalogue) {
    const route = routeOf(def, platform);
    if (!route) continue;
    const fields: Field[] = [];
    let complete = true;
    for (const [name, schema] of Object.entries(def.request.shape as Record<string, $ZodType>)) {
      if (name === "type") continue;
      const optional = (schema._zod.def as { type: string }).type === "optional";
      const field = optional ? optionalFieldOf(name) : fieldOf(name, schema);
      if (field) fields.push(field);
      else if (!optional) complete = false;
    }
    if (complete) actions.push({ type: def.name, boundary: def.boundary, ...route, fields });
  }
  return actions;
}

/** The fields of a request type the host's own messages may be altered in (numbers and flags). */
export function alterableFields(type: string): readonly Field[] {
  const def = catalogue.find((d) => d.name === type);
  if (!def) return [];
  const fields: Field[] = [];
  for (const [name, schema] of Object.entries(def.request.shape as Record<string, $ZodType>)) {
    if (name === "type") continue;
    const field = fieldOf(name, schema);
    if (field) fields.push(field);
  }
  return fields;
}
