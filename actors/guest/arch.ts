// What the guest kernel needs from its platform: how to boot, touch memory, accept it, convert it
// between private and shared, signal a milestone, halt and report a fatal error. TDX and pKVM
// implement it; the kernel (kernel.ts) runs the workload on top.
import type { Address, Content, Level } from "../../protocol/index.ts";
import type { Flow } from "../../src/kit/flows.ts";

/** Thrown inside a flow when the guest must stop; the kernel reports it and halts everything. */
export class GuestPanic extends Error {}

export interface GuestArch {
  /**
   * force_dma_unencrypted(): coherent DMA buffers must be shared with the host. x86 TDX guests:
   * yes (CC_ATTR_GUEST_MEM_ENCRYPT, arch/x86/mm/mem_encrypt.c); arm64 pKVM guests: no, it is
   * is_realm_world() (arch/arm64/include/asm/mem_encrypt.h): their DMA goes through a
   * restricted-dma-pool shared once at probe.
   */
  readonly forceDmaUnencrypted: boolean;
  boot(self: Address): Flow<void>;
  /** A load or store through the page's own alias (its page-table view) or the other one. */
  access(
    self: Address,
    vcpu: number,
    op: "read" | "write",
    gpa: number,
    alias: "own" | "other",
    content: Content | undefined,
  ): Flow<Content | undefined>;
  /** Make memory usable (TDX: accept_memory; pKVM: nothing, the host donates on first touch). */
  accept(gpa: number, size: number, level: Level): Flow<void>;
  toShared(self: Address, gpa: number, size: number): Flow<void>;
  toPrivate(self: Address, gpa: number, size: number): Flow<void>;
  post(value: number): Flow<void>;
  halt(): Flow<void>;
  reportFatal(reason: string): Flow<void>;
}
