// A KVM TD state with nothing built yet, for driving the host's TDX flows directly in tests.
import { GuestRam } from "../../actors/host/guest-ram.ts";
import { HostMemory } from "../../actors/host/host-memory.ts";
import type { VmLifecycle } from "../../actors/host/lifecycle.ts";
import { TdxVm } from "../../actors/host/tdx/vm.ts";
import { TaskRunner } from "../../src/kit/flows.ts";
import { PartyIO } from "../../src/kit/outbox.ts";

/** A running TD's KVM state (4K private mappings, HKID 1); its io and tasks are vm.io, vm.tasks. */
export function testTdxVm(lifecycle: VmLifecycle = { state: "running", notify: () => {} }): TdxVm {
  const io = new PartyIO();
  const memory = new HostMemory();
  return new TdxVm(io, new TaskRunner(io), lifecycle, memory, new GuestRam(io, memory, "anonymous"), {
    privateLevel: 0,
    hkid: 1,
    flexiblePendingVe: false,
  });
}
