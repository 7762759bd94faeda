// `cocomem describe tdx`: the legality table, the TD lifecycle, the status codes and the message
// catalogue, printed from the same data the model runs on, so the documentation cannot drift.

import { Option } from "commander";
import { guestMachine } from "../../actors/guest/machine.ts";
import { hostMachine } from "../../actors/host/machine.ts";
import { pkvmMachine } from "../../actors/trusted/pkvm/machine.ts";
import { TRANSITIONS } from "../../actors/trusted/pkvm/page-state.ts";
import { ANY_STATE_CALLS, TD_LIFECYCLE, type TdState, tdxMachine } from "../../actors/trusted/tdx/machine.ts";
import { SEPT_TABLE, type SeptRule } from "../../actors/trusted/tdx/sept-table.ts";
import { catalogue, PAGE_STATES, SEPT_STATES, u64 } from "../../protocol/index.ts";
import { DEFAULT_PROFILE, profilesOf } from "../../protocol/profiles.ts";
import { routeOf } from "../../protocol/routes.ts";
import type { Platform } from "../../protocol/scenario.ts";
import { TDVMCALL_STATUS, TDX_STATUS } from "../../protocol/status.ts";
import { type PartyMachine, stateDiagram, transitionsOf } from "../kit/state-diagram.ts";
import { type CliIo, EXIT, parseArgs, processIo, subcommand, usageError } from "./io.ts";

type Format = "text" | "markdown" | "json" | "mermaid";

/** Each party's machine on a platform: what `--format mermaid` draws, from the definitions themselves. */
function partyMachines(platform: Platform): PartyMachine[] {
  return [
    { party: "guest", machine: guestMachine },
    { party: "host", machine: hostMachine(platform) },
    { party: "trusted", machine: platform === "tdx" ? tdxMachine : pkvmMachine },
  ];
}

/** The versions of the real systems the model can follow on a platform, and what each decides. */
function profiles(platform: Platform, format: Format): string {
  const rows = profilesOf(platform).map((p) => {
    const { platform: _platform, name, summary, sources: _sources, ...knobs } = p;
    const decides = Object.entries(knobs)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(", ");
    return [`${name}${name === DEFAULT_PROFILE[platform] ? " (default)" : ""}`, summary, decides || "-"];
  });
  return table(["profile", "follows", "decides"], rows, format);
}

/** The parties' lifecycles as text: each state change a machine can make, and what makes it. */
function lifecycles(platform: Platform, format: Format): string {
  const rows = partyMachines(platform).flatMap(({ party, machine }) =>
    transitionsOf(machine).map((t) => [party, t.from, t.to, t.label]),
  );
  return table(["party", "state", "moves to", "when"], rows, format);
}

function cell(rule: SeptRule): string {
  if ("to" in rule) return `-> ${rule.to}${rule.tracked ? " (tracked)" : ""}`;
  if ("exit" in rule) return "TD exit (EPT violation)";
  return rule.status;
}

function table(headers: string[], rows: string[][], format: Format): string {
  if (format === "markdown") {
    const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
    return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function legality(format: Format): string {
  const rows = Object.entries(SEPT_TABLE).map(([call, spec]) => [
    call,
    spec.levels.map((l) => ["4K", "2M", "1G"][l]).join(","),
    spec.opStates.join(","),
    ...SEPT_STATES.map((state) => cell(spec.rules[state])),
  ]);
  return table(["call", "levels", "op states", ...SEPT_STATES], rows, format);
}

function lifecycle(format: Format): string {
  const rows = (Object.keys(TD_LIFECYCLE) as TdState[]).map((state) => {
    const spec = TD_LIFECYCLE[state];
    return [
      state,
      spec.op,
      [...spec.calls, ...ANY_STATE_CALLS].join(", ") || "-",
      spec.advances.length ? spec.advances.map((a) => `${a.call} -> ${a.to}`).join(", ") : "-",
      spec.refusal,
    ];
  });
  return table(
    ["TD state", "op state", "SEAMCALLs taken", "moves on with", "other SEAMCALLs get"],
    rows,
    format,
  );
}

function statuses(format: Format): string {
  const rows = [
    ...Object.entries(TDX_STATUS).map(([name, value]) => [name, u64(value)]),
    ...Object.entries(TDVMCALL_STATUS).map(([name, value]) => [name, u64(value)]),
  ];
  return table(["status", "value"], rows, format);
}

function messages(format: Format, boundaries: readonly string[] = TDX_BOUNDARIES): string {
  const fields = (shape: Record<string, unknown>) =>
    Object.keys(shape)
      .filter((k) => k !== "type")
      .join(", ") || "-";
  const rows = catalogue
    .filter((def) => boundaries.includes(def.boundary))
    .map((def) => [
      def.name,
      routeOf(def.name)?.text ?? def.boundary,
      fields(def.request.shape),
      fields(def.response.shape),
      def.doc,
    ]);
  return table(["message", "route", "request", "response", "what it does"], rows, format);
}

function pkvmTransitions(format: Format): string {
  const change = (c?: { from: readonly string[]; to: string }) =>
    c
      ? `${c.from.map((s) => s.replace("PKVM_", "").replace("PAGE_", "")).join("|")} -> ${c.to.replace("PKVM_", "").replace("PAGE_", "")}`
      : "-";
  const rows = Object.entries(TRANSITIONS).map(([call, row]) => [
    call,
    change(row.host),
    change(row.hyp),
    change(row.guest),
    row.wrongState,
    row.zeroes ?? "nobody",
    row.note ?? "",
  ]);
  return table(["call", "host", "hyp", "guest", "wrong state", "zeroes", "note"], rows, format);
}

function describePkvm(format: Format): string {
  if (format === "json") {
    return JSON.stringify(
      {
        profiles: profilesOf("pkvm"),
        pageStates: PAGE_STATES,
        transitions: TRANSITIONS,
        messages: messageList(PKVM_BOUNDARIES),
      },
      null,
      2,
    );
  }
  const heading = (title: string) => (format === "markdown" ? `## ${title}` : `== ${title} ==`);
  return [
    heading("Profiles (--profile)"),
    profiles("pkvm", format),
    heading("The parties' state machines"),
    format === "markdown"
      ? `\`\`\`mermaid\n${stateDiagram(partyMachines("pkvm"))}\n\`\`\``
      : lifecycles("pkvm", format),
    heading("Page states (per component, per page)"),
    PAGE_STATES.join(", "),
    heading("Transitions: every component is checked before anything changes"),
    pkvmTransitions(format),
    heading("Message catalogue"),
    messages(format, PKVM_BOUNDARIES),
  ].join("\n\n");
}

/** The catalogue entries of some boundaries, as plain data for --format json. */
function messageList(boundaries: readonly string[]) {
  return catalogue
    .filter((d) => boundaries.includes(d.boundary))
    .map((d) => ({
      name: d.name,
      boundary: d.boundary,
      route: routeOf(d.name)?.text,
      doc: d.doc,
    }));
}

const PKVM_BOUNDARIES: readonly string[] = ["guest-hvc", "host-hvc", "kvm", "memory"];
const TDX_BOUNDARIES: readonly string[] = ["tdcall", "seamcall", "kvm", "memory"];

function describeTdx(format: Format): string {
  if (format === "json") {
    return JSON.stringify(
      {
        profiles: profilesOf("tdx"),
        lifecycle: TD_LIFECYCLE,
        anyStateCalls: ANY_STATE_CALLS,
        septStates: SEPT_STATES,
        legality: SEPT_TABLE,
        statuses: Object.fromEntries(
          Object.entries({ ...TDX_STATUS, ...TDVMCALL_STATUS }).map(([k, v]) => [k, u64(v)]),
        ),
        messages: messageList(TDX_BOUNDARIES),
      },
      null,
      2,
    );
  }
  const heading = (title: string) => (format === "markdown" ? `## ${title}` : `== ${title} ==`);
  return [
    heading("Profiles (--profile)"),
    profiles("tdx", format),
    heading("The parties' state machines"),
    format === "markdown"
      ? `\`\`\`mermaid\n${stateDiagram(partyMachines("tdx"))}\n\`\`\``
      : lifecycles("tdx", format),
    heading("TD lifecycle (TDX module op state and teardown)"),
    lifecycle(format),
    heading("S-EPT legality: call x entry state (Linux-visible states; migration states omitted)"),
    legality(format),
    heading("Status codes"),
    statuses(format),
    heading("Message catalogue"),
    messages(format),
  ].join("\n\n");
}

/** Run `cocomem describe` on the arguments after `describe`; resolves to the exit code. */
export async function describeCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  const command = subcommand(
    "describe",
    "print a platform's state tables and message catalogue from the model's own data",
    io,
  )
    .argument("<platform>", "the platform to describe (tdx or pkvm)")
    .addOption(
      new Option("--format <format>", "output format (mermaid: each party's state diagram)")
        .choices(["text", "markdown", "json", "mermaid"])
        .default("text"),
    );
  const stop = parseArgs(command, argv, io);
  if (stop !== undefined) return stop;
  const platform = command.args[0];
  const format = command.opts<{ format: Format }>().format;
  if (platform !== "tdx" && platform !== "pkvm") {
    return usageError(io, `unknown platform "${platform}" (known: tdx, pkvm)`);
  }
  if (format === "mermaid") io.out(`${stateDiagram(partyMachines(platform))}\n`);
  else io.out(`${platform === "tdx" ? describeTdx(format) : describePkvm(format)}\n`);
  return EXIT.ok;
}
