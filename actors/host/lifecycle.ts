// The VM's lifecycle as the host kernel sees it, per platform, as data: the states (KVM's
// kvm_tdx->state TD_STATE_INITIALIZED / TD_STATE_RUNNABLE, kvm->vm_dead, kvm_destroy_vm() under
// way, gone), what moves the VM from one to the next, and the host machine (machine.ts) built from
// it. KVM's code reads the state through VmLifecycle and moves it on with `notify`; a move the
// table does not allow is a model bug and crashes the host.
import type { Effect } from "../../protocol/index.ts";
import type { Platform } from "../../protocol/scenario.ts";
import { type Flow, lock, type TaskRunner } from "../../src/kit/flows.ts";

export const HOST_VM_STATES = [
  "no-vm",
  "created",
  "built",
  "running",
  "dead",
  "tearing-down",
  "destroyed",
] as const;
export type HostVmState = (typeof HOST_VM_STATES)[number];

export type VmEvent =
  | { type: "vm.created" }
  | { type: "vm.built" }
  | { type: "vm.running" }
  /** KVM can no longer run the VM (kvm_vm_dead(): a TD that cannot be entered, a poisoned IPA). */
  | { type: "vm.dead" }
  | { type: "vm.destroying" }
  | { type: "vm.destroyed" };

export interface VmMove {
  readonly on: VmEvent["type"];
  readonly to: HostVmState;
  /** What makes the move, for the state diagram. */
  readonly why: string;
}

const destroy: VmMove = { on: "vm.destroying", to: "tearing-down", why: "KVM_DESTROY_VM" };
const dying: readonly VmMove[] = [{ on: "vm.dead", to: "dead", why: "kvm_vm_dead()" }, destroy];

/** The moves each state allows, per platform. A TD is built (measured, finalized); a pKVM VM is not. */
export const HOST_LIFECYCLE: Readonly<Record<Platform, Readonly<Record<HostVmState, readonly VmMove[]>>>> = {
  tdx: {
    "no-vm": [{ on: "vm.created", to: "created", why: "KVM_TDX_INIT_VM" }, destroy],
    created: [{ on: "vm.built", to: "built", why: "KVM_TDX_FINALIZE_VM" }, ...dying],
    built: [{ on: "vm.running", to: "running", why: "first KVM_RUN" }, ...dying],
    running: dying,
    dead: [destroy],
    "tearing-down": [{ on: "vm.destroyed", to: "destroyed", why: "every page reclaimed" }],
    destroyed: [],
  },
  pkvm: {
    "no-vm": [{ on: "vm.created", to: "created", why: "KVM_CREATE_VM" }, destroy],
    created: [{ on: "vm.running", to: "running", why: "first KVM_RUN" }, ...dying],
    built: [],
    running: dying,
    dead: [destroy],
    "tearing-down": [{ on: "vm.destroyed", to: "destroyed", why: "every page reclaimed" }],
    destroyed: [],
  },
};

/** KVM's view of the lifecycle: read the state, move it on. */
export interface VmLifecycle {
  /** The state as of the last completed delivery (a move notified now shows from the next one). */
  readonly state: HostVmState;
  notify(event: VmEvent): void;
}

/** The part of a VM's kernel state a kill touches. */
export interface KillableVm {
  readonly io: { effect(effect: Effect): void };
  readonly lifecycle: VmLifecycle;
  /** kvm->vm_dead: once set, the VM never runs again (it stays set through teardown). */
  vmDead: boolean;
}

/**
 * KVM can no longer run the VM (kvm_vm_dead()): say why, once, and move the lifecycle to `dead`
 * unless the VM is already being torn down. Logged by host/kvm: the VM's state is the kernel's.
 */
export function killVm(vm: KillableVm, reason: string): void {
  if (vm.vmDead) return;
  vm.vmDead = true;
  vm.io.effect({ e: "lifecycle", by: "host/kvm", state: "vm-killed", detail: reason });
  const state = vm.lifecycle.state;
  if (state === "created" || state === "built" || state === "running")
    vm.lifecycle.notify({ type: "vm.dead" });
}

/**
 * The lock every VM ioctl holds while it runs (its reference to the VM file). KVM_DESTROY_VM, the
 * last close of the VM's fd, takes it exclusive: kvm_destroy_vm() runs only once every ioctl in
 * flight has returned. KVM_RUN, an ioctl on a vCPU's fd, takes none: teardown kicks the vCPUs out.
 */
export const VM_FD = "vm fd";

/** Run a VM ioctl holding the VM fd's lock (shared), released however the ioctl ends. */
export function* holdingVmFd<T>(tasks: TaskRunner, ioctl: Flow<T>): Flow<T> {
  yield* lock(VM_FD, "shared");
  try {
    return yield* ioctl;
  } finally {
    tasks.unlock(VM_FD);
  }
}

/** KVM_DESTROY_VM begins (once: a second request finds the VM already going). */
export function beginTeardown(lifecycle: VmLifecycle): boolean {
  const state = lifecycle.state;
  if (state === "tearing-down" || state === "destroyed") return false;
  lifecycle.notify({ type: "vm.destroying" });
  return true;
}
