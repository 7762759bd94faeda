// The process transport: each party in its own OS process (child.ts), driven from here over IPC
// (process-party.ts), children kept warm between runs (pool.ts). An adversarial host is named by
// file or corpus id and built only inside the host's process: an object cannot cross.
import { resolve } from "node:path";
import { PARTIES, type PartyName } from "../../protocol/index.ts";
import { findAttack } from "../adversaries/corpus/catalogue.ts";
import type { Transport } from "../run/transport.ts";
import { ProcessParty } from "./process-party.ts";

export const processTransport: Transport = {
  name: "process",
  async parties(spec, setup) {
    const source = setup.adversary;
    if (source && "object" in source) {
      throw new Error(
        "an adversary object cannot cross into the host's process: give its file as `hostPlugin`",
      );
    }
    const adversary = source && "file" in source ? { file: resolve(source.file) } : source;
    const choices = setup.hostChoices;
    if (adversary && choices && !choices.spec) {
      throw new Error("this run's strategy exists only in this process: run it with the inproc transport");
    }
    const make = (party: PartyName) =>
      new ProcessParty(party, {
        type: "init",
        party,
        spec,
        ...(setup.mutant ? { mutant: setup.mutant } : {}),
        ...(party === "host" && adversary ? { adversary } : {}),
        ...(party === "host" && adversary && choices?.spec
          ? { choices: { spec: choices.spec, record: choices.record } }
          : {}),
      });
    const parties = { trusted: make("trusted"), host: make("host"), guest: make("guest") };
    // Another process's messages are all checked on arrival.
    const hostName = !source
      ? undefined
      : "attack" in source
        ? findAttack(source.attack).adversary(spec.platform).name
        : source.file;
    return { parties, untrusted: [...PARTIES], ...(hostName ? { hostName } : {}) };
  },
};
