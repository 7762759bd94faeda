// The three parties of a run, built for a scenario: the trusted side of its platform, the honest
// host (or an adversary in its place) and the guest. Every transport builds its parties here: the
// in-process one directly, the process transport inside each child.
import { createGuestParty } from "../../actors/guest/machine.ts";
import { createHonestHost } from "../../actors/host/machine.ts";
import { createPkvmTrustedParty } from "../../actors/trusted/pkvm/machine.ts";
import { createTdxTrustedParty } from "../../actors/trusted/tdx/machine.ts";
import type { PartyName } from "../../protocol/index.ts";
import { pkvmProfile } from "../../protocol/profiles.ts";
import type { Platform, ScenarioSpec, TrustedMutant } from "../../protocol/scenario.ts";
import type { Adversary } from "../adversaries/api.ts";
import { findAttack } from "../adversaries/corpus/catalogue.ts";
import { loadAdversary } from "../adversaries/load.ts";
import { WrappedHost } from "../adversaries/wrap.ts";
import { type Chooser, seededStrategy } from "../kit/choice.ts";
import type { PartyEndpoint } from "../kit/party.ts";

/** Host RAM the pKVM hypervisor treats as memory (the host allocator's pools lie below it). */
const PKVM_HOST_RAM = 4 * 2 ** 40;

/** Where an adversarial host comes from: an object (in process only), a plug-in file, or a corpus attack. */
export type AdversarySource = { object: Adversary } | { file: string } | { attack: string };

export interface PartyOptions {
  mutant?: TrustedMutant | undefined;
  /** The adversary to put in the honest host's place (wrapping it, or replacing it). */
  adversary?: Adversary | undefined;
  /** Where the adversary's choices come from (default: seeded by 0; runs pass the run's). */
  hostChooser?: Chooser | undefined;
}

export function buildParties(
  spec: ScenarioSpec,
  options: PartyOptions = {},
): Record<PartyName, PartyEndpoint> {
  return {
    trusted: buildParty("trusted", spec, options),
    host: buildParty("host", spec, options),
    guest: buildParty("guest", spec, options),
  };
}

/** One party of a run (a child process of the process transport builds just its own). */
export function buildParty(name: PartyName, spec: ScenarioSpec, options: PartyOptions = {}): PartyEndpoint {
  switch (name) {
    case "trusted":
      return buildTrusted(spec, options.mutant ?? {});
    case "host":
      return buildHost(spec, options.adversary, options.hostChooser ?? seededStrategy(0).chooser("host"));
    case "guest":
      return createGuestParty({
        platform: spec.platform,
        policy: spec.guest.policy,
        kernel: spec.guest.kernel,
        workload: spec.guest.workload,
      });
  }
}

function buildTrusted(spec: ScenarioSpec, mutant: TrustedMutant): PartyEndpoint {
  return spec.platform === "tdx"
    ? createTdxTrustedParty({
        hostReadMachineChecks: spec.host.hostReadMachineChecks,
        partialWriteErratum: spec.host.partialWriteErratum,
        mutant: { acceptWithoutZeroing: mutant.skipZeroing === true },
      })
    : createPkvmTrustedParty({
        ramBytes: PKVM_HOST_RAM,
        profile: pkvmProfile(spec.profile),
        inPlaceGmem: spec.host.variant === "gmem",
        mutant: { skipPoison: mutant.skipZeroing === true },
      });
}

function buildHost(spec: ScenarioSpec, adversary: Adversary | undefined, chooser: Chooser): PartyEndpoint {
  const { guest, host, platform } = spec;
  if (adversary?.replace)
    return adversary.replace({ platform, spec, choose: (n, label) => chooser.choose(n, label) });
  const honest = createHonestHost({
    platform,
    variant: host.variant,
    memory: guest.memory,
    vcpus: guest.vcpus,
    septVeDisable: host.septVeDisable,
    flexiblePendingVe: host.flexiblePendingVe,
    stopBeforeFinalize: host.stopBeforeFinalize,
    partialWriteErratum: host.partialWriteErratum,
    image: guest.image,
    onPost: host.onPost,
    privateLevel: host.privateLevel === "2M" ? 1 : 0,
    ...(platform === "pkvm" ? { pkvmProfile: pkvmProfile(spec.profile) } : {}),
  });
  return adversary ? new WrappedHost(honest, adversary.wrap!, platform, chooser) : honest;
}

/** The adversary object a source names, loaded or built for this platform. */
export async function resolveAdversary(source: AdversarySource, platform: Platform): Promise<Adversary> {
  if ("object" in source) return source.object;
  if ("attack" in source) return findAttack(source.attack).adversary(platform);
  const loaded = await loadAdversary(source.file);
  if (!loaded.ok) throw new Error(loaded.error);
  return loaded.adversary;
}
