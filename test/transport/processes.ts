// What the process-transport tests need to see of OS processes: which party processes a process
// forked (they are titled cocomem-<party>), whether a process still runs, and a long scenario to
// interrupt or kill in the middle of. Linux `ps`.
import { execFileSync } from "node:child_process";
import { defineScenario, type Scenario } from "../../src/scenarios/define.ts";
import { longAcceptInput } from "../fixtures/scenarios.ts";

/** `ps` output, or nothing when no process matches (ps then exits 1). */
function ps(args: string[]): string {
  try {
    return execFileSync("ps", args, { encoding: "utf8" });
  } catch {
    return "";
  }
}

/** The running party processes `ppid` forked, by pid (sorted) with the party each plays now. */
export function partyProcesses(ppid = process.pid): { pid: number; party: string }[] {
  return ps(["-o", "pid=,stat=,comm=", "--ppid", String(ppid)])
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(
      ([pid, stat, command]) => Number(pid) > 0 && !stat?.startsWith("Z") && command?.startsWith("cocomem-"),
    )
    .map(([pid, , command]) => ({ pid: Number(pid), party: command!.slice("cocomem-".length) }))
    .sort((a, b) => a.pid - b.pid);
}

/** The pid of the process `ppid` forked that plays `party`. */
export function playing(party: string, ppid = process.pid): number {
  const found = partyProcesses(ppid).find((p) => p.party === party);
  if (!found) throw new Error(`no child of ${ppid} plays ${party}`);
  return found.pid;
}

/** Whether a process still runs: not gone, and not a zombie waiting to be reaped. */
export function running(pid: number): boolean {
  const stat = ps(["-o", "stat=", "-p", String(pid)]).trim();
  return stat !== "" && !stat.startsWith("Z");
}

/** Poll until `condition` holds (the test's own timeout bounds the wait). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** A 1 GiB TDX guest accepting `size` at 4K: about 4,100 messages per MiB. */
export function longAccept(size: string): Scenario {
  return defineScenario(longAcceptInput(size));
}
