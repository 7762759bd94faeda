// The orchestrator's own duties, with stand-in parties: sender stamping, route and schema checks,
// exactly one response per request, crash handling and the verdict it derives.
import { describe, expect, it } from "vitest";
import type { Envelope, PartyName } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";
import type { Delivery, OutMsg, PartyEndpoint } from "../../src/kit/party.ts";
import { MemoryLog } from "../../src/runtime/log-writer.ts";
import { Orchestrator } from "../../src/runtime/orchestrator.ts";

/** A party scripted by two functions: what it sends at start, and how it reacts to a delivery. */
function party(
  name: PartyName,
  start: () => OutMsg[] = () => [],
  react: (env: Envelope) => OutMsg[] | "throw" = () => [],
): PartyEndpoint & { seen: Envelope[] } {
  const seen: Envelope[] = [];
  return {
    name,
    seen,
    start: () => ({ out: start(), effects: [] }),
    deliver: ({ env }: Delivery) => {
      seen.push(env);
      const out = react(env);
      if (out === "throw") throw new Error("plug-in bug");
      return { out, effects: [] };
    },
  };
}

function run(parties: Partial<Record<PartyName, PartyEndpoint>>, untrusted: PartyName[] = []) {
  const log = new MemoryLog();
  const all = {
    guest: parties.guest ?? party("guest"),
    host: parties.host ?? party("host"),
    trusted: parties.trusted ?? party("trusted"),
  };
  const orchestrator = new Orchestrator({
    seed: 1,
    parties: all,
    log,
    monitors: [],
    untrusted: new Set(untrusted),
    maxSteps: 1000,
  });
  return orchestrator.run().then((result) => ({ result, lines: log.lines }));
}

const kick = (from: OutMsg["from"]): OutMsg => ({
  from,
  to: "hw",
  kind: "request",
  msg: { type: "vcpu.kick", vcpu: 0 },
  ref: 1,
});
const rejected = (lines: LogLine[]) => lines.filter((l) => l.type === "rejected");

describe("Orchestrator", () => {
  it("should deliver a request and its one response, in log order", async () => {
    const trusted = party("trusted", undefined, (env) => [
      {
        from: "hw",
        to: env.from,
        kind: "response",
        re: env.id,
        msg: { type: "vcpu.kick", wasRunning: false },
      },
    ]);
    const host = party("host", () => [kick("host/kvm")]);
    const { lines } = await run({ host, trusted });
    const msgs = lines.filter((l) => l.type === "msg");
    expect(msgs.map((m) => (m.type === "msg" ? `${m.kind} ${m.from}->${m.to}` : ""))).toEqual([
      "request host/kvm->hw",
      "response hw->host/kvm",
    ]);
    expect(host.seen[0]?.msg).toEqual({ type: "vcpu.kick", wasRunning: false });
  });

  it("should refuse a message whose sender is another party's address, and never deliver it", async () => {
    const trusted = party("trusted");
    const host = party("host", () => [{ ...kick("host/kvm"), from: "fw" }]);
    const { lines } = await run({ host, trusted });
    expect(rejected(lines)).toMatchObject([
      { from: "host/kvm", reason: expect.stringMatching(/^forged sender fw/) },
    ]);
    expect(trusted.seen).toEqual([]);
  });

  it("should refuse a request on the wrong route (a host issuing a TDCALL)", async () => {
    const trusted = party("trusted");
    const host = party("host", () => [
      {
        from: "host/kvm",
        to: "fw",
        kind: "request",
        msg: { type: "TDG.MEM.PAGE.ACCEPT", gpa: 0, level: 0 },
        ref: 1,
      },
    ]);
    const { lines } = await run({ host, trusted });
    expect(rejected(lines)).toMatchObject([
      { reason: "TDG.MEM.PAGE.ACCEPT goes guest/vcpuN -> fw, not host/kvm -> fw" },
    ]);
    expect(trusted.seen).toEqual([]);
  });

  // Each boundary's route, tried from the wrong side: the trust boundaries hold both ways.
  const wrongRoutes: [PartyName, OutMsg, string][] = [
    [
      "guest",
      {
        from: "guest/vcpu0",
        to: "fw",
        kind: "request",
        msg: { type: "TDH.MEM.RANGE.BLOCK", gpa: 0, level: 0 },
      },
      "TDH.MEM.RANGE.BLOCK goes host/kvm -> fw, not guest/vcpu0 -> fw",
    ],
    [
      "host",
      {
        from: "host/kvm",
        to: "fw",
        kind: "request",
        msg: { type: "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE", ipa: 0 },
      },
      "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE goes guest/vcpuN -> fw, not host/kvm -> fw",
    ],
    [
      "guest",
      {
        from: "guest/vcpu0",
        to: "fw",
        kind: "request",
        msg: { type: "__pkvm_host_donate_guest", pfn: 1, gfn: 1, vcpu: 0 },
      },
      "__pkvm_host_donate_guest goes host/kvm -> fw, not guest/vcpu0 -> fw",
    ],
    [
      "guest",
      { from: "guest/vcpu0", to: "host/kvm", kind: "request", msg: { type: "KVM_DESTROY_VM" } },
      "KVM_DESTROY_VM goes host/vmm -> host/kvm, not guest/vcpu0 -> host/kvm",
    ],
    [
      "guest",
      { from: "guest/vcpu0", to: "hw", kind: "request", msg: { type: "host.access", op: "read", hpa: 0 } },
      "host.access goes host/* -> hw, not guest/vcpu0 -> hw",
    ],
    [
      "host",
      {
        from: "host/kvm",
        to: "hw",
        kind: "request",
        msg: { type: "guest.access", vcpu: 0, op: "read", gpa: 0 },
      },
      "guest.access goes guest/vcpuN -> hw, not host/kvm -> hw",
    ],
    [
      "host",
      {
        from: "host/vmm",
        to: "fw",
        kind: "request",
        msg: { type: "TDH.MEM.PAGE.AUG", gpa: 0, level: 0, hpa: 0 },
      },
      "TDH.MEM.PAGE.AUG goes host/kvm -> fw, not host/vmm -> fw",
    ],
  ];
  for (const [sender, out, reason] of wrongRoutes) {
    it(`should refuse ${out.msg.type} from ${out.from} to ${out.to}, and never deliver it`, async () => {
      const others = { guest: party("guest"), host: party("host"), trusted: party("trusted") };
      const scripted = party(sender, () => [{ ...out, ref: 1 }]);
      const { lines } = await run({ ...others, [sender]: scripted });
      expect(rejected(lines)).toMatchObject([{ reason }]);
      for (const p of Object.values(others)) expect(p.seen).toEqual([]);
      expect(lines.filter((l) => l.type === "msg")).toEqual([]);
    });
  }

  it("should refuse a malformed message from an untrusted party, naming the problem", async () => {
    const trusted = party("trusted");
    const host = party("host", () => [
      {
        from: "host/kvm",
        to: "fw",
        kind: "request",
        msg: { type: "TDH.MEM.PAGE.AUG", gpa: -1, level: 0, hpa: 0 } as never,
        ref: 1,
      },
    ]);
    const { lines } = await run({ host, trusted }, ["host"]);
    expect(rejected(lines)).toMatchObject([
      { reason: expect.stringMatching(/^malformed TDH.MEM.PAGE.AUG: /) },
    ]);
    expect(trusted.seen).toEqual([]);
  });

  it("should refuse a response that answers no open request", async () => {
    const guest = party("guest");
    const host = party("host", () => [
      {
        from: "host/kvm",
        to: "guest/vcpu0",
        kind: "response",
        re: "nope",
        msg: { type: "TDG.VP.INFO" } as never,
      },
    ]);
    const { lines } = await run({ host, guest });
    expect(rejected(lines)).toMatchObject([{ reason: expect.stringMatching(/answers no open request/) }]);
    expect(guest.seen).toEqual([]);
  });

  it("should end the run with host-crashed when the host throws, the log closed by a verdict", async () => {
    const crashing = party(
      "host",
      () => [kick("host/kvm")],
      () => "throw",
    );
    const answering = party("trusted", undefined, (env) => [
      {
        from: "hw",
        to: env.from,
        kind: "response",
        re: env.id,
        msg: { type: "vcpu.kick", wasRunning: true },
      },
    ]);
    const crashed = await run({ host: crashing, trusted: answering });
    expect(crashed.result.outcome).toBe("host-crashed");
    expect(crashed.result.reason).toBe("host threw: plug-in bug");
    expect(crashed.lines.at(-1)).toMatchObject({ type: "verdict", outcome: "host-crashed" });
  });

  it("should call a run stalled when the guest still waits and nothing else can happen", async () => {
    const guest = party("guest", () => [
      { from: "guest/vcpu0", to: "fw", kind: "request", msg: { type: "TDG.VP.INFO" }, ref: 1 },
    ]);
    const { result } = await run({ guest });
    expect(result.outcome).toBe("stalled");
    expect(result.reason).toBe("guest/vcpu0 still waits for TDG.VP.INFO: the host withheld service");
  });

  it("should stop at the step limit with a verdict saying so", async () => {
    const echo = (env: Envelope): OutMsg[] => [
      {
        from: "hw",
        to: env.from,
        kind: "response",
        re: env.id,
        msg: { type: "vcpu.kick", wasRunning: true },
      },
    ];
    const host = party(
      "host",
      () => [kick("host/kvm")],
      () => [kick("host/kvm")],
    );
    const { result } = await run({ host, trusted: party("trusted", undefined, echo) });
    expect(result.outcome).toBe("step-limit");
    expect(result.reason).toMatch(/^step limit 1000 reached/);
  });
});
