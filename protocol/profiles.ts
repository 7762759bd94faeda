// The versions of the real systems the model follows, as named profiles per platform. Where the
// versions differ in a way that changes what happens, the profile decides; a scenario may name one
// (`profile`), `--profile` overrides it, and the log header and `cocomem describe` say which.
import { z } from "zod";
import type { Platform } from "./common.ts";

export const ProfileName = z.enum(["tdx-1.5+linux-7.0", "android16-6.12", "linux-7.1"]);
export type ProfileName = z.infer<typeof ProfileName>;

/** What a pKVM host kernel (EL1) touching a page donated to a protected guest leads to. */
export type HostKernelTouch =
  /** The hypervisor injects an abort into the host: an oops, nothing reclaimed (Android). */
  | "abort-injected"
  /** fixup_exception() first (a uaccess copy gets -EFAULT); a kernel-mapping access force-reclaims (7.1). */
  | "force-reclaim";

export interface TdxProfile {
  readonly platform: "tdx";
  readonly name: ProfileName;
  readonly summary: string;
  readonly sources: readonly string[];
}

export interface PkvmProfile {
  readonly platform: "pkvm";
  readonly name: ProfileName;
  readonly summary: string;
  readonly sources: readonly string[];
  readonly hostKernelTouch: HostKernelTouch;
  /**
   * MEM_SHARE on an IPA with no page: a MAP request to the host (KVM_HYP_REQ_TYPE_MAP, exit
   * ARM_EXCEPTION_HYP_REQ, ELR -= 4: ACK16 pkvm_memshare_call()) or a fake level-3 write data
   * abort (ELR -= 4: 7.1 __pkvm_memshare_page_req()). Either way the HVC re-executes.
   */
  readonly memShareUnmapped: "hyp-request" | "fake-abort";
  /** x1 of a successful MEM_SHARE / MEM_UNSHARE: the pages done (ACK16) or 0 (7.1). */
  readonly memShareReturnsCount: boolean;
  /** HYP_MEMINFO's x1: KVM_FUNC_HAS_RANGE (ACK16: MEM_SHARE takes a page count) or 0 (7.1). */
  readonly memInfoHasRange: boolean;
  /** MEM_RELINQUISH is an EL2 call (ACK16); 7.1 has no such call and answers NOT_SUPPORTED. */
  readonly relinquish: boolean;
  /** __pkvm_start/finalize_teardown_vm errnos: -ENOENT / -EBUSY / -EINVAL (ACK16), or -EINVAL for all (7.1). */
  readonly teardownErrnos: "distinct" | "einval";
  /**
   * Unmap / write-protect of a protected VM's page: EL2 answers -EPERM (ACK16 wrprotect), or the
   * host refuses first (WARN, -EPERM) and EL2's handler would answer -EINVAL (7.1).
   */
  readonly protectedUnmap: "el2-eperm" | "host-refuses";
}

export type Profile = TdxProfile | PkvmProfile;

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  "tdx-1.5+linux-7.0": {
    platform: "tdx",
    name: "tdx-1.5+linux-7.0",
    summary: "TDX module 1.5.01 (intel/tdx-module tdx_1.5), KVM and the Linux TD guest as of v7.0",
    sources: ["intel/tdx-module tdx_1.5", "torvalds/linux v7.0 arch/x86/kvm/vmx/tdx.c, arch/x86/coco/tdx/"],
  },
  "android16-6.12": {
    platform: "pkvm",
    name: "android16-6.12",
    summary: "pKVM of the Android Common Kernel android16-6.12 (protected VMs, MEM_RELINQUISH, MMIO guard)",
    sources: ["android common kernel android16-6.12 arch/arm64/kvm/hyp/nvhe/, arch/arm64/kvm/pkvm.c"],
    hostKernelTouch: "abort-injected",
    memShareUnmapped: "hyp-request",
    memShareReturnsCount: true,
    memInfoHasRange: true,
    relinquish: true,
    teardownErrnos: "distinct",
    protectedUnmap: "el2-eperm",
  },
  "linux-7.1": {
    platform: "pkvm",
    name: "linux-7.1",
    summary: "upstream pKVM with the protected guest memory series (Linux 7.1)",
    sources: ["torvalds/linux v7.1 arch/arm64/kvm/hyp/nvhe/, arch/arm64/kvm/pkvm.c, arch/arm64/mm/fault.c"],
    hostKernelTouch: "force-reclaim",
    memShareUnmapped: "fake-abort",
    memShareReturnsCount: false,
    memInfoHasRange: false,
    relinquish: false,
    teardownErrnos: "einval",
    protectedUnmap: "host-refuses",
  },
};

export const DEFAULT_PROFILE: Readonly<Record<Platform, ProfileName>> = {
  tdx: "tdx-1.5+linux-7.0",
  pkvm: "android16-6.12",
};

/** The profiles of a platform, in the order `describe` lists them. */
export const profilesOf = (platform: Platform): Profile[] =>
  Object.values(PROFILES).filter((p) => p.platform === platform);

/** A pKVM profile by name (the default one when none is given); throws for a TDX name. */
export function pkvmProfile(name: ProfileName | undefined): PkvmProfile {
  const profile = profileFor("pkvm", name);
  if (profile.platform !== "pkvm") throw new Error(`bug: ${profile.name} is not a pKVM profile`);
  return profile;
}

/** The profile a run uses: the one asked for, checked against the platform. */
export function profileFor(platform: Platform, name: ProfileName | undefined): Profile {
  const profile = PROFILES[name ?? DEFAULT_PROFILE[platform]];
  if (profile.platform !== platform) {
    const known = profilesOf(platform).map((p) => p.name);
    throw new Error(
      `profile ${profile.name} is for ${profile.platform}, not ${platform} (known: ${known.join(", ")})`,
    );
  }
  return profile;
}
