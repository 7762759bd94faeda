// Party processes kept warm between runs of one orchestrating program. Forking a child and loading
// the model through tsx takes a few hundred milliseconds and a fresh process's JIT starts cold, so a
// program that runs many scenarios (run --all, matrix, the tests, the bench) reuses idle children.
// A child is reused only after a clean run with no plug-in loaded: one that exited, hung or hosted
// a plug-in is killed. Idle children are unref'd, so they never keep this process alive, and they
// exit when it goes away (their IPC channel closes).
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
/** One run needs three children; keeping more idle would only hold memory. */
const MAX_IDLE = 3;

const idle: ChildProcess[] = [];

function forget(child: ChildProcess): void {
  const at = idle.indexOf(child);
  if (at >= 0) idle.splice(at, 1);
}

/** A child process ready for `init`: an idle one if there is one and `fresh` is not asked for. */
export function takeChild(fresh: boolean): ChildProcess {
  const child = fresh ? undefined : idle.pop();
  if (child) {
    child.removeAllListeners("exit");
    child.ref();
    child.channel?.ref();
    return child;
  }
  return fork(CHILD, [], {
    execArgv: ["--import", "tsx"],
    serialization: "json",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/** Hand a child back after a clean run; its next `init` replaces the party it held. */
export function giveBack(child: ChildProcess): void {
  child.removeAllListeners("message");
  child.removeAllListeners("exit");
  if (idle.length >= MAX_IDLE || child.exitCode !== null || child.signalCode !== null) {
    child.kill("SIGKILL");
    return;
  }
  child.once("exit", () => forget(child));
  child.unref();
  child.channel?.unref();
  idle.push(child);
}
