// The small domain the generic adversary draws its arguments from: what a host sees in its own
// messages and the exits it handles (the GPAs the guest used and their aliases, the frames it
// handed out, VM handles, guest_memfd fds, vCPUs), plus one free frame of its own. It knows
// nothing about any attack: it learns by field name, from every message that passes it.
import { DEFAULT_SHARED_BIT, PAGE_4K, type Platform, sharedBitOf } from "../../../protocol/index.ts";

/** A free host frame the adversary may hand out or fill (far from anything KVM allocates). */
const OWN_FRAME = 0x500000000000;
/** Each list keeps the first values seen: the domain stays small, and the same for the same run. */
const MAX_VALUES = 12;

const GPA_FIELDS = new Set(["gpa", "ipa", "address", "offset", "retryGpa"]);
const FRAME_FIELDS = new Set(["hpa", "phys", "tdr", "tdvpr", "source"]);

export class HostDomain {
  readonly gpas: number[] = [];
  readonly frames: number[] = [OWN_FRAME];
  readonly handles: number[] = [];
  readonly fds: number[] = [];
  readonly vcpus: number[] = [0];
  private sharedBit = DEFAULT_SHARED_BIT;

  constructor(private readonly platform: Platform) {}

  /** Learn from a message the host sent or received, and from the exit it carries, if any. */
  learn(msg: unknown): void {
    if (typeof msg !== "object" || msg === null) return;
    const fields = msg as Record<string, unknown>;
    if (fields.gpaWidth === 48 || fields.gpaWidth === 52) this.sharedBit = sharedBitOf(fields.gpaWidth);
    for (const [name, value] of Object.entries(fields)) {
      if (name === "exit" || name === "vmcall") this.learn(value);
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) continue;
      if (GPA_FIELDS.has(name)) this.addGpa(value);
      else if (name === "gfn") this.addGpa(value * PAGE_4K);
      else if (FRAME_FIELDS.has(name)) add(this.frames, value - (value % PAGE_4K));
      else if (name === "pfn") add(this.frames, value * PAGE_4K);
      else if (name === "handle" && value > 0) add(this.handles, value);
      else if (name === "fd" && value > 0) add(this.fds, value);
      else if (name === "vcpu") add(this.vcpus, value);
    }
  }

  /** The GPAs below the shared bit. */
  privateGpas(): number[] {
    return this.gpas.filter((gpa) => gpa < this.sharedBit);
  }

  /** A GPA page, and on TDX its alias on the other side of the shared bit. */
  private addGpa(gpa: number): void {
    const page = gpa - (gpa % PAGE_4K);
    add(this.gpas, page);
    if (this.platform === "tdx")
      add(this.gpas, page >= this.sharedBit ? page - this.sharedBit : page + this.sharedBit);
  }
}

function add(list: number[], value: number): void {
  if (list.length < MAX_VALUES && !list.includes(value)) list.push(value);
}
