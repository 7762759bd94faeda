// Checking a host plug-in for the process transport without running its code in the
// orchestrator's process: it is loaded in a throwaway child, which is killed afterwards. (Loading
// it here would let its top-level code patch the orchestrator or the monitors.)
import type { FromChild } from "./child.ts";
import { takeChild } from "./pool.ts";

export type PluginCheck = { ok: true } | { ok: false; error: string };

/** Whether `path` is a loadable host plug-in, decided in a child; `timeoutMs` bounds a hanging load. */
export async function checkPluginInChild(path: string, timeoutMs = 30_000): Promise<PluginCheck> {
  const child = takeChild(true);
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await new Promise<FromChild | string>((resolve) => {
      child.once("message", (message: FromChild) => resolve(message));
      child.once("exit", (code, signal) =>
        resolve(`its process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`),
      );
      timer = setTimeout(() => resolve(`it did not finish loading within ${timeoutMs} ms`), timeoutMs);
      child.send({ type: "check", hostPlugin: path });
    });
    if (typeof answer === "string") return { ok: false, error: `${path}: could not be loaded (${answer})` };
    if (answer.type === "error") return { ok: false, error: answer.message };
    return { ok: true };
  } finally {
    clearTimeout(timer);
    child.removeAllListeners();
    child.kill("SIGKILL");
  }
}
