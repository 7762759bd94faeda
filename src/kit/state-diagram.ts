// A party's state diagram, drawn from its XState machine definition itself (never from a
// hand-kept copy): Mermaid stateDiagram-v2 lines, one composite state per party, each transition
// that changes state labelled with its description (the call that makes it) or its event.
import type { AnyStateMachine, AnyStateNode } from "xstate";

export interface PartyMachine {
  /** The party's name in the diagram ("guest", "host", "trusted"). */
  readonly party: string;
  readonly machine: AnyStateMachine;
}

/** Mermaid ids allow letters, digits and underscores only: `party_state`. */
const idOf = (party: string, state: string): string => `${party}_${state}`.replace(/[^A-Za-z0-9_]/g, "_");

/** A state change a machine can make: from a top-level state to another, and what makes it. */
export interface Transition {
  from: string;
  to: string;
  /** The transition's description (the call that makes it), or its event. */
  label: string;
}

/** Every state change of a machine's top-level states, in definition order. */
export function transitionsOf(machine: AnyStateMachine): Transition[] {
  const out: Transition[] = [];
  for (const [key, node] of Object.entries(machine.root.states) as [string, AnyStateNode][]) {
    for (const [event, transitions] of node.transitions) {
      for (const transition of transitions) {
        for (const target of transition.target ?? []) {
          if (target.key === key) continue;
          out.push({
            from: key,
            to: target.key,
            label: (transition as { description?: string }).description ?? event,
          });
        }
      }
    }
  }
  return out;
}

/** The lines drawing one machine as a composite state named after its party. */
function composite({ party, machine }: PartyMachine): string[] {
  const root = machine.root;
  const lines = [`  state "${party} (${machine.id})" as ${party} {`];
  for (const key of Object.keys(root.states)) lines.push(`    state "${key}" as ${idOf(party, key)}`);
  for (const initial of root.initial?.target ?? []) lines.push(`    [*] --> ${idOf(party, initial.key)}`);
  for (const t of transitionsOf(machine))
    lines.push(`    ${idOf(party, t.from)} --> ${idOf(party, t.to)}: ${t.label}`);
  lines.push("  }");
  return lines;
}

/** The state diagrams of a platform's parties, side by side in one Mermaid diagram. */
export function stateDiagram(parties: readonly PartyMachine[]): string {
  return ["stateDiagram-v2", ...parties.flatMap(composite)].join("\n");
}
