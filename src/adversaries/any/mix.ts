// Which kinds of action the generic adversary may take in one run. Swarm testing (Groce et al.,
// ISSTA 2012) draws a different mix per run, so that actions which crowd each other out when all
// are enabled (a host withholding every message never gets to inject anything) each get runs of
// their own, and rare combinations come up.
import type { Platform } from "../../../protocol/index.ts";
import type { Rng } from "../../kit/rng.ts";
import { hostActions } from "./vocabulary.ts";

export type SendKind = "withhold" | "delay" | "alter";
export const SEND_KINDS: readonly SendKind[] = ["withhold", "delay", "alter"];

export interface Mix {
  /** Request types it may inject: "all", or these. */
  readonly inject: "all" | readonly string[];
  /** What it may do to its own requests. */
  readonly send: readonly SendKind[];
  /** Flip the flags it sends while building the VM. */
  readonly build: boolean;
}

export const FULL_MIX: Mix = { inject: "all", send: SEND_KINDS, build: true };

/** A swarm mix: each request type and each kind of action enabled with probability 1/2. */
export function swarmMix(rng: Rng, platform: Platform): Mix {
  const half = () => rng.int(2) === 1;
  return {
    inject: hostActions(platform)
      .map((a) => a.type)
      .filter(half),
    send: SEND_KINDS.filter(half),
    build: half(),
  };
}
