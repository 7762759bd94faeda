// Small scenarios for the explorer (`cocomem explore`): one vCPU, a few pages, under a hundred
// messages with the honest host, so a search runs thousands of them a second per core. Each
// guest keeps a secret in private memory and reads it back after a milestone, when a host has had
// its chance; none scripts a host action (the explorer's adversary decides those). Run honestly
// they complete.
import type { GuestStepInput, ScenarioSpec } from "../../protocol/scenario.ts";
import { defineScenario } from "./define.ts";
import { reuseForDma } from "./pkvm/dma.ts";

const A = 0x400000;
const B = A + 0x1000;

/** Accept (or fault in) two pages, keep a secret in one, post a milestone, read both back. */
const secretKept: GuestStepInput[] = [
  { op: "accept", gpa: A, size: "8K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "write", gpa: B, tag: "data-b", secret: false },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
  { op: "read", gpa: B },
];

/** Keep a secret in a page, then share that page as it is (nothing clears it first). */
const secretShared: GuestStepInput[] = [
  { op: "accept", gpa: A, size: "8K", level: "4K" },
  { op: "write", gpa: A, tag: "secret-a", secret: true },
  { op: "convert", gpa: A, size: "4K", to: "shared" },
  { op: "post", value: 1 },
  { op: "read", gpa: A },
];

const small = (
  name: string,
  platform: ScenarioSpec["platform"],
  workload: GuestStepInput[],
  description: string,
) =>
  defineScenario({
    name,
    description: `${description} A small target for \`cocomem explore\`.`,
    platform,
    guest: { memory: "16M", workload: [workload] },
    expect: { outcome: "completed" },
    expectWithPolicy: { naive: { outcome: "completed", violations: [] } },
  });

export const tdxExploreSecret = small(
  "tdx/explore-secret",
  "tdx",
  secretKept,
  "The guest accepts two pages, keeps a secret in one, posts a milestone and reads both back.",
);
export const pkvmExploreSecret = small(
  "pkvm/explore-secret",
  "pkvm",
  secretKept,
  "The guest touches two pages, keeps a secret in one, posts a milestone and reads both back.",
);
export const pkvmExploreShare = small(
  "pkvm/explore-share",
  "pkvm",
  secretShared,
  "The guest keeps a secret in a page and shares the page as it is; nobody reads it unless a host does.",
);
export const pkvmExploreDma = small(
  "pkvm/explore-dma",
  "pkvm",
  reuseForDma,
  "A page that held a secret is freed, reallocated and shared before it is cleared (dma_direct_alloc()'s order); nobody reads it unless a host does.",
);
