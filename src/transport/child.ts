// A party in its own OS process. The parent (the orchestrator) sends `init` (which party, the
// scenario, an optional adversarial host: a plug-in file or a corpus attack), then `start` and
// `deliver` requests; this process answers each with the party's step output. Messages are plain
// JSON: nothing but data crosses. A throwaway child may instead be asked only to `check` a plug-in.

import type { PartyName } from "../../protocol/index.ts";
import type { ScenarioSpec, TrustedMutant } from "../../protocol/scenario.ts";
import { loadAdversary } from "../adversaries/load.ts";
import { type Choice, recording, type Strategy, type StrategySpec, strategyOf } from "../kit/choice.ts";
import type { Delivery, PartyEndpoint, StepOutput } from "../kit/party.ts";
import { buildParty, resolveAdversary } from "../run/parties.ts";

export type ToChild =
  | {
      type: "init";
      party: PartyName;
      spec: ScenarioSpec;
      mutant?: TrustedMutant;
      /** The host only: a plug-in file, or an attack of the corpus by id, to run as the host. */
      adversary?: { file: string } | { attack: string };
      /** The host only: the run's strategy, to make the adversary's choices here as the run would. */
      choices?: { spec: StrategySpec; record: boolean };
    }
  /** Load a host plug-in only to say whether it is one (the parent never runs plug-in code). */
  | { type: "check"; hostPlugin: string }
  | { type: "start" }
  | { type: "deliver"; delivery: Delivery };

export type FromChild =
  | { type: "ready" }
  | { type: "output"; output: StepOutput }
  | { type: "error"; message: string };

let party: PartyEndpoint | undefined;

function reply(message: FromChild): void {
  process.send?.(message);
}

/** Build the party afresh: a pooled process is re-initialised for each run. */
async function init(message: Extract<ToChild, { type: "init" }>): Promise<void> {
  party = undefined;
  // Named in `ps` by the party it plays now, so a user (or a test) can tell the children apart.
  process.title = `cocomem-${message.party}`;
  const adversary =
    message.party === "host" && message.adversary
      ? await resolveAdversary(message.adversary, message.spec.platform)
      : undefined;
  const strategy = message.choices ? choicesHere(message.choices) : undefined;
  const built = buildParty(message.party, message.spec, {
    mutant: message.mutant,
    adversary,
    hostChooser: strategy?.chooser("host"),
  });
  party = strategy ? reportingChoices(built, strategy) : built;
}

/** The run's strategy, rebuilt here from its data; recorded when the run keeps a tape. */
function choicesHere(choices: {
  spec: StrategySpec;
  record: boolean;
}): Strategy & { tape?: readonly Choice[] } {
  const strategy = strategyOf(choices.spec);
  return choices.record ? recording(strategy) : strategy;
}

/** The party, with the choices it made during each step (and any divergence) added to its output. */
function reportingChoices(
  inner: PartyEndpoint,
  strategy: Strategy & { tape?: readonly Choice[] },
): PartyEndpoint {
  let reported = 0;
  const withChoices = (output: StepOutput): StepOutput => {
    const tape = strategy.tape ?? [];
    const choices = tape.slice(reported);
    reported = tape.length;
    return {
      ...output,
      ...(choices.length > 0 ? { choices } : {}),
      ...(strategy.divergence ? { divergence: strategy.divergence } : {}),
    };
  };
  return {
    name: inner.name,
    start: async () => withChoices(await inner.start()),
    deliver: async (delivery) => withChoices(await inner.deliver(delivery)),
  };
}

// The orchestrator is gone: so is the reason to live (no orphan outlives its parent).
process.on("disconnect", () => process.exit(0));
// Ctrl-C in a terminal (or a SIGTERM, SIGHUP sent to the process group) reaches every process in
// it; the orchestrator decides how the run ends (with a verdict), then kills or keeps this process.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});

process.on("message", async (message: ToChild) => {
  try {
    if (message.type === "init") {
      await init(message);
      return reply({ type: "ready" });
    }
    if (message.type === "check") {
      const plugin = await loadAdversary(message.hostPlugin);
      return reply(plugin.ok ? { type: "ready" } : { type: "error", message: plugin.error });
    }
    if (!party) throw new Error("party not initialised");
    const output = message.type === "start" ? await party.start() : await party.deliver(message.delivery);
    // No copy needed although the party reuses these arrays: send() serialises synchronously.
    reply({ type: "output", output });
  } catch (error) {
    reply({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
});
