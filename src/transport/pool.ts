// Party processes kept warm between runs of one orchestrating program. Forking a child and loading
// the model through tsx takes a few hundred milliseconds and a fresh process's JIT starts cold, so a
// program that runs many scenarios (run --all, matrix, the tests, the bench) reuses idle children.
// A child is reused only after a clean run with no adversarial host in it: one that exited, hung or
// hosted a plug-in or an attack is killed. Idle children are unref'd, so they never keep this
// process alive, and they exit when it goes away (their IPC channel closes).
import { type ChildProcess, fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
/** tsx's loader by absolute URL: a bare `--import tsx` would resolve from the user's directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
/** One run needs three children; keeping more idle would only hold memory. */
const MAX_IDLE = 3;

/** Idle children, each with the listener that drops it from here if it dies while idle. */
const idle: { child: ChildProcess; onExit: () => void }[] = [];

/** A child process ready for `init`: an idle one if there is one and `fresh` is not asked for. */
export function takeChild(fresh: boolean): ChildProcess {
  const warm = fresh ? undefined : idle.pop();
  if (warm) {
    warm.child.off("exit", warm.onExit);
    warm.child.ref();
    warm.child.channel?.ref();
    return warm.child;
  }
  return fork(CHILD, [], {
    execArgv: ["--import", TSX_LOADER],
    serialization: "json",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/** Hand back a child after a clean run (its user has removed its own listeners). */
export function giveBack(child: ChildProcess): void {
  if (idle.length >= MAX_IDLE || child.exitCode !== null || child.signalCode !== null) {
    child.kill("SIGKILL");
    return;
  }
  const entry = {
    child,
    onExit: () => {
      const at = idle.indexOf(entry);
      if (at >= 0) idle.splice(at, 1);
    },
  };
  child.once("exit", entry.onExit);
  child.unref();
  child.channel?.unref();
  idle.push(entry);
}
