// Who may send which request to whom: the trust boundaries. The orchestrator refuses a request on
// any other route (a host forging a TDCALL, a guest issuing a SEAMCALL), whatever its payload.
import type { Address } from "./common.ts";
import type { Boundary } from "./define.ts";
import { calls } from "./index.ts";

interface Route {
  readonly from: (address: Address) => boolean;
  readonly to: Address;
  readonly text: string;
}

const vcpu = (a: Address) => a.startsWith("guest/vcpu");
const kvm = (a: Address) => a === "host/kvm";

const BY_BOUNDARY: Readonly<Record<Exclude<Boundary, "memory">, Route>> = {
  tdcall: { from: vcpu, to: "fw", text: "guest/vcpuN -> fw" },
  seamcall: { from: kvm, to: "fw", text: "host/kvm -> fw" },
  "guest-hvc": { from: vcpu, to: "fw", text: "guest/vcpuN -> fw" },
  "host-hvc": { from: kvm, to: "fw", text: "host/kvm -> fw" },
  kvm: { from: (a) => a === "host/vmm", to: "host/kvm", text: "host/vmm -> host/kvm" },
};

const MEMORY: Readonly<Record<string, Route>> = {
  "guest.access": { from: vcpu, to: "hw", text: "guest/vcpuN -> hw" },
  "host.access": { from: (a) => a === "host/kvm" || a === "host/vmm", to: "hw", text: "host/* -> hw" },
  "ept.map": { from: kvm, to: "hw", text: "host/kvm -> hw" },
  "ept.zap": { from: kvm, to: "hw", text: "host/kvm -> hw" },
  "vcpu.kick": { from: kvm, to: "hw", text: "host/kvm -> hw" },
};

export function routeOf(type: string): Route | undefined {
  const def = (calls as Record<string, { boundary: Boundary }>)[type];
  if (!def) return undefined;
  return def.boundary === "memory" ? MEMORY[type] : BY_BOUNDARY[def.boundary];
}

/** Undefined if a request of this type may go from `from` to `to`; else why not. */
export function routeProblem(type: string, from: Address, to: Address): string | undefined {
  const route = routeOf(type);
  if (!route) return `unknown request ${type}`;
  if (route.to !== to || !route.from(from)) return `${type} goes ${route.text}, not ${from} -> ${to}`;
  return undefined;
}
