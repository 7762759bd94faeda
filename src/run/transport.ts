// How a run's parties are hosted. The run assembly knows only this interface: `inproc` (here)
// builds the parties in this process; the process transport (src/transport) builds each in its
// own child process from the same spec. The CLI picks one.
import type { PartyName } from "../../protocol/index.ts";
import type { ScenarioSpec, TrustedMutant } from "../../protocol/scenario.ts";
import type { Adversary } from "../adversaries/api.ts";
import type { Chooser, StrategySpec } from "../kit/choice.ts";
import type { PartyEndpoint } from "../kit/party.ts";
import { type AdversarySource, buildParties, resolveAdversary } from "./parties.ts";

export interface PartySetup {
  mutant?: TrustedMutant;
  /** The adversarial host, if any. */
  adversary?: AdversarySource;
  /** Where the host's choices come from. */
  hostChoices?: HostChoices;
}

/** The host's stream of choices: its chooser here, and the same strategy as data for another process. */
export interface HostChoices {
  chooser: Chooser;
  /** Undefined when the strategy exists only as an object in this process (the explorer's). */
  spec: StrategySpec | undefined;
  /** Report each choice made elsewhere back, for the run's tape. */
  record: boolean;
}

export interface Transport {
  readonly name: "inproc" | "process";
  /** The three parties of one run; messages from `untrusted` ones are checked on arrival. */
  parties(spec: ScenarioSpec, setup: PartySetup): Promise<HostedParties>;
}

export interface HostedParties {
  parties: Record<PartyName, PartyEndpoint>;
  untrusted: PartyName[];
  /** The adversarial host's name, for the log header (undefined: the honest host). */
  hostName?: string;
}

/** Every party in this process: fast, and the only way to hand the run an adversary object. */
export const inprocTransport: Transport = {
  name: "inproc",
  async parties(spec, setup) {
    const adversary: Adversary | undefined = setup.adversary
      ? await resolveAdversary(setup.adversary, spec.platform)
      : undefined;
    const parties = buildParties(spec, {
      mutant: setup.mutant,
      adversary,
      hostChooser: setup.hostChoices?.chooser,
    });
    // A plug-in host shares our heap: its messages are checked like another process's.
    return adversary
      ? { parties, untrusted: ["host"], hostName: adversary.name }
      : { parties, untrusted: [] };
  },
};
