// Each party's lifecycle is the state of its XState machine: the host's VM goes created -> built
// -> running -> (dead) -> tearing-down -> destroyed as KVM reaches each point, the trusted side's
// TD or VM follows the calls that move it on, the guest halts or terminates; a move the table does
// not allow crashes the host. And `describe --format mermaid` draws exactly those machines.
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { createHonestHost, hostMachine } from "../../actors/host/machine.ts";
import type { PartyName } from "../../protocol/index.ts";
import type { XStateParty } from "../../src/kit/xstate-party.ts";
import { buildParties } from "../../src/run/parties.ts";
import { MemoryLog } from "../../src/runtime/log-writer.ts";
import { Orchestrator } from "../../src/runtime/orchestrator.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { cli } from "../cli/capture.ts";

/** Run a built-in scenario and record every state each party's machine passed through. */
async function statesVisited(name: string, policy?: "linux" | "naive"): Promise<Record<PartyName, string[]>> {
  const spec = findBuiltIn(name)!.spec;
  const parties = buildParties(policy ? { ...spec, guest: { ...spec.guest, policy } } : spec);
  const visited: Record<PartyName, string[]> = { guest: [], host: [], trusted: [] };
  for (const party of ["guest", "host", "trusted"] as const) {
    const endpoint = parties[party] as XStateParty;
    const note = () => {
      const state = String(endpoint.snapshot().value);
      if (visited[party].at(-1) !== state) visited[party].push(state);
    };
    note();
    const deliver = endpoint.deliver.bind(endpoint);
    const start = endpoint.start.bind(endpoint);
    endpoint.deliver = (d) => {
      const out = deliver(d);
      note();
      return out;
    };
    endpoint.start = () => {
      const out = start();
      note();
      return out;
    };
  }
  const run = new Orchestrator({
    seed: 1,
    parties,
    log: new MemoryLog(),
    monitors: [],
    untrusted: new Set(),
    maxSteps: 10_000_000,
  });
  await run.run();
  return visited;
}

describe("party lifecycles in their machines", () => {
  it("should take a TD host and module through every stage of a normal run", async () => {
    const visited = await statesVisited("tdx/lazy-accept-4k");
    expect(visited.host).toEqual(["no-vm", "created", "built", "running", "tearing-down", "destroyed"]);
    expect(visited.trusted).toEqual([
      "NO_TD",
      "UNINIT",
      "INITIALIZED",
      "RUNNABLE",
      "TD_BLOCKED",
      "TD_TEARDOWN",
    ]);
    expect(visited.guest).toEqual(["booting", "running", "halted"]);
  });

  it("should mark the VM dead before tearing it down when KVM kills a TD", async () => {
    const visited = await statesVisited("tdx/punch-hole");
    expect(visited.host).toEqual([
      "no-vm",
      "created",
      "built",
      "running",
      "dead",
      "tearing-down",
      "destroyed",
    ]);
    expect(visited.guest).toEqual(["booting", "running"]);
  });

  it("should follow a protected VM at EL2 from init to torn down, and its host without a build stage", async () => {
    const visited = await statesVisited("pkvm/share-unshare");
    expect(visited.trusted).toEqual(["no-vm", "init", "running", "dying", "torn-down"]);
    expect(visited.host).toEqual(["no-vm", "created", "running", "tearing-down", "destroyed"]);
  });

  it("should end with the guest terminated when it stops itself", async () => {
    // Linux refuses to run on a TD without SEPT_VE_DISABLE: it reports a fatal error and stops.
    const visited = await statesVisited("tdx/punch-hole-naive-no-sept-ve-disable", "linux");
    expect(visited.guest).toEqual(["booting", "running", "terminated"]);
    expect(visited.host.at(-1)).toBe("destroyed");
  });

  it("should crash the host on a lifecycle move its table does not allow", () => {
    const errors: string[] = [];
    const actor = createActor(hostMachine("tdx"), { input: { lifecycle: { attach() {} } } as never });
    actor.subscribe({ error: (error) => errors.push(String(error)) });
    actor.start();
    actor.send({ type: "vm.built" });
    expect(errors).toEqual(["Error: bug: the VM cannot take vm.built in state no-vm"]);
  });

  it("should refuse VM ioctls out of order as KVM does, never moving the lifecycle", () => {
    const host = createHonestHost({
      platform: "tdx",
      memory: 0x100000,
      vcpus: 1,
      septVeDisable: true,
      onPost: [],
      privateLevel: 0,
      variant: "pinned",
    });
    const request = (id: string, msg: object) =>
      ({ env: { type: "msg", seq: 0, id, from: "host/vmm", to: "host/kvm", kind: "request", msg } }) as never;
    // tdx_td_finalize(): a TD that was never initialized is -EINVAL, before any SEAMCALL.
    expect(host.deliver(request("f", { type: "KVM_TDX_FINALIZE_VM" })).out.map((o) => o.msg)).toEqual([
      { type: "KVM_TDX_FINALIZE_VM", ret: -22 },
    ]);
    // After KVM_DESTROY_VM (the VM's fd closed) every ioctl finds no fd: -EBADF.
    host.deliver(request("d", { type: "KVM_DESTROY_VM" }));
    expect(
      host
        .deliver(request("i", { type: "KVM_TDX_INIT_VM", septVeDisable: true, vcpus: 1, gpaWidth: 48 }))
        .out.map((o) => o.msg),
    ).toEqual([{ type: "KVM_TDX_INIT_VM", ret: -9 }]);
  });
});

describe("describe --format mermaid", () => {
  it("should draw the TDX parties' machines, each transition labelled by the call that makes it", async () => {
    const { code, out } = await cli("describe", "tdx", "--format", "mermaid");
    expect(code).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toBe("stateDiagram-v2");
    for (const edge of [
      "trusted_NO_TD --> trusted_UNINIT: TDH.MNG.CREATE",
      "trusted_UNINIT --> trusted_INITIALIZED: TDH.MNG.INIT",
      "trusted_INITIALIZED --> trusted_RUNNABLE: TDH.MR.FINALIZE",
      "trusted_RUNNABLE --> trusted_TD_BLOCKED: TDH.MNG.VPFLUSHDONE",
      "trusted_TD_BLOCKED --> trusted_TD_TEARDOWN: TDH.MNG.KEY.FREEID",
      "host_no_vm --> host_created: KVM_TDX_INIT_VM",
      "host_created --> host_built: KVM_TDX_FINALIZE_VM",
      "host_running --> host_dead: kvm_vm_dead()",
      "guest_booting --> guest_running: boot every vCPU",
    ])
      expect(lines.map((l) => l.trim())).toContain(edge);
    // Every line is a Mermaid state-diagram statement (ids are letters, digits and underscores).
    for (const line of lines.slice(1))
      expect(line).toMatch(/^\s*(state "[^"]+" as \w+( \{)?|\}|\[\*\] --> \w+|\w+ --> \w+: .+)$/);
  });

  it("should draw pKVM's protected VM lifecycle at EL2", async () => {
    const { out } = await cli("describe", "pkvm", "--format", "mermaid");
    const lines = out.split("\n").map((l) => l.trim());
    for (const edge of [
      "trusted_no_vm --> trusted_init: __pkvm_init_vm",
      "trusted_running --> trusted_dying: __pkvm_start_teardown_vm",
      "trusted_dying --> trusted_torn_down: __pkvm_finalize_teardown_vm",
      "host_no_vm --> host_created: KVM_CREATE_VM",
    ])
      expect(lines).toContain(edge);
    // A pKVM VM is not built: no such state on its host.
    expect(out).not.toContain("host_built");
  });
});
