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
  },
  "linux-7.1": {
    platform: "pkvm",
    name: "linux-7.1",
    summary: "upstream pKVM with the protected guest memory series (Linux 7.1)",
    sources: ["torvalds/linux v7.1 arch/arm64/kvm/hyp/nvhe/, arch/arm64/kvm/pkvm.c, arch/arm64/mm/fault.c"],
    hostKernelTouch: "force-reclaim",
  },
};

export const DEFAULT_PROFILE: Readonly<Record<Platform, ProfileName>> = {
  tdx: "tdx-1.5+linux-7.0",
  pkvm: "android16-6.12",
};

/** The profiles of a platform, in the order `describe` lists them. */
export const profilesOf = (platform: Platform): Profile[] =>
  Object.values(PROFILES).filter((p) => p.platform === platform);

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
