// Adversarial host plug-ins: the README's example as written, and what happens to plug-ins that
// send malformed messages, throw, or stop answering.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { LogLine } from "../../protocol/log.ts";
import { defineAdversary } from "../../src/adversaries/api.ts";
import { loadAdversary } from "../../src/adversaries/load.ts";
import { parseLog } from "../../src/log/read.ts";
import { runScenario } from "../../src/run/run.ts";
import { findBuiltIn } from "../../src/scenarios/index.ts";
import { processTransport } from "../../src/transport/index.ts";

// Inside the package, so `cocomem/plugins` resolves as it does for a user's file.
const dir = join(import.meta.dirname, ".tmp-plugins");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;

/** Every line of a JSONL log parses (schema-checked, line by line) and the last one is the verdict. */
function expectValidLog(path: string): LogLine[] {
  const read = parseLog(readFileSync(path, "utf8"), path);
  expect(read.ok ? "ok" : read.message).toBe("ok");
  const lines = read.ok ? read.lines : [];
  expect(lines.at(-1)?.type).toBe("verdict");
  return lines;
}

describe("the README plug-in example", () => {
  it("should load, read only ciphertext from private frames on TDX, and leave the defences holding", async () => {
    const file = join(dir, "snoop.ts");
    writeFileSync(file, example);
    const loaded = await loadAdversary(file);
    expect(loaded.ok).toBe(true);
    const run = await runScenario(findBuiltIn("tdx/convert-roundtrips")!, {
      adversary: loaded.ok ? loaded.adversary : undefined,
    });
    expect(run.result.outcome).toBe("completed");
    expect(run.unmet).toEqual([]);
    const hostReads = run.log.flatMap((l) =>
      l.type === "effect" && l.effect.e === "read" && l.effect.by === "host/kvm" ? [l.effect.content.k] : [],
    );
    expect(hostReads).toContain("ciphertext");
    expect(hostReads).not.toContain("uninit");
  });
});

describe("a replace plug-in loaded from a file", () => {
  it("should run its own host party built from the public kit, and be held to the protocol", async () => {
    const file = join(dir, "replace.ts");
    // A host that is the honest host, rebuilt by the plug-in itself from the exported pieces.
    writeFileSync(
      file,
      `import { createHonestHost, defineAdversary } from "cocomem/plugins";
export default defineAdversary({
  name: "rebuilt-honest-host",
  description: "the honest host, built by the plug-in",
  replace: ({ spec, platform }) =>
    createHonestHost({
      platform,
      memory: spec.guest.memory,
      vcpus: spec.guest.vcpus,
      septVeDisable: spec.host.septVeDisable,
      image: spec.guest.image,
      onPost: spec.host.onPost,
      privateLevel: spec.host.privateLevel === "2M" ? 1 : 0,
      variant: spec.host.variant,
    }),
});
`,
    );
    const loaded = await loadAdversary(file);
    expect(loaded.ok ? loaded.adversary.name : loaded.error).toBe("rebuilt-honest-host");
    if (!loaded.ok) return;
    for (const name of ["tdx/punch-hole", "pkvm/share-unshare"]) {
      const run = await runScenario(findBuiltIn(name)!, { adversary: loaded.adversary });
      expect(run.result.outcome, name).toBe(findBuiltIn(name)!.spec.expect.outcome);
      expect(
        run.log.filter((l) => l.type === "rejected"),
        name,
      ).toEqual([]);
    }
  });
});

describe("misbehaving plug-ins", () => {
  const scenario = findBuiltIn("tdx/punch-hole")!;

  it("should reject a malformed message, log it as rejected, and never deliver it", async () => {
    const logFile = join(dir, "malformed.jsonl");
    const adversary = defineAdversary({
      name: "malformed",
      description: "sends an AUG with a negative GPA",
      wrap: {
        tick(ctx) {
          if (ctx.step === 3)
            ctx.request("fw", { type: "TDH.MEM.PAGE.AUG", gpa: -4096, level: 0, hpa: 0 } as never);
        },
      },
    });
    const run = await runScenario(scenario, { adversary, logFile });
    const lines = expectValidLog(logFile);
    const rejected = lines.filter((l) => l.type === "rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      from: "host/kvm",
      reason: expect.stringMatching(/^malformed TDH.MEM.PAGE.AUG: /),
    });
    const augs = lines.filter(
      (l) => l.type === "msg" && l.msg.type === "TDH.MEM.PAGE.AUG" && "gpa" in l.msg && l.msg.gpa < 0,
    );
    expect(augs).toEqual([]);
    expect(run.result.outcome).toBe("vm-killed-by-host");
  });

  it("should refuse effects a host forges in another party's name or leaves malformed, and never log them", async () => {
    const logFile = join(dir, "forged-effects.jsonl");
    const liar = defineAdversary({
      name: "liar",
      description: "claims the TDX module zeroed a page, and logs a zeroing of a negative address",
      replace: () => ({
        name: "host",
        start: () => ({
          out: [null as never],
          effects: [
            { e: "zero", by: "fw", hpa: 0x1000, pages: 1, why: "TDG.MEM.PAGE.ACCEPT", keyId: 1 },
            { e: "zero", by: "host/kvm", hpa: -1, pages: 1, why: "MOVDIR64B", keyId: 0 } as never,
          ],
        }),
        deliver: () => ({ out: [], effects: [] }),
      }),
    });
    await runScenario(scenario, { adversary: liar, logFile });
    const lines = expectValidLog(logFile);
    expect(lines.filter((l) => l.type === "rejected").map((l) => l.type === "rejected" && l.reason)).toEqual([
      "forged effect by fw: host may only log what it did itself",
      expect.stringMatching(/^malformed effect zero: /),
      "malformed message: not an object",
    ]);
    expect(lines.filter((l) => l.type === "effect" && l.effect.e === "zero")).toEqual([]);
  });

  it("should end the run as host-crashed when the plug-in answers with something that is not a step output", async () => {
    const logFile = join(dir, "garbage.jsonl");
    const garbage = defineAdversary({
      name: "garbage",
      description: "answers its start with a number",
      replace: () => ({ name: "host", start: () => 42 as never, deliver: () => 42 as never }),
    });
    const run = await runScenario(scenario, { adversary: garbage, logFile });
    expect(run.result.outcome).toBe("host-crashed");
    expect(run.result.reason).toBe("host threw: answered with something that is not a step output");
    expect(expectValidLog(logFile).at(-1)).toMatchObject({ type: "verdict", outcome: "host-crashed" });
  });

  it("should log what was delivered even when a plug-in rewrites the message it was handed", async () => {
    const logFile = join(dir, "rewrites.jsonl");
    const rewriter = defineAdversary({
      name: "rewriter",
      description: "turns every successful AUG it is told about into a failure, in place",
      wrap: {
        onReceive(env) {
          if (env.kind === "response" && env.msg.type === "TDH.MEM.PAGE.AUG")
            (env.msg as { status: string }).status = "0xc000010000000000";
          return "keep";
        },
      },
    });
    const run = await runScenario(scenario, { adversary: rewriter, logFile });
    // The in-memory log is exactly what was written to the file as the run went.
    expect(run.log).toEqual(expectValidLog(logFile));
    const augs = run.log.filter(
      (l) => l.type === "msg" && l.kind === "response" && l.msg.type === "TDH.MEM.PAGE.AUG",
    );
    expect(augs.length).toBeGreaterThan(0);
    expect(
      augs.every((l) => l.type === "msg" && "status" in l.msg && l.msg.status === "0x0000000000000000"),
    ).toBe(true);
  });

  it("should log what was sent even when a plug-in rewrites a message after sending it", async () => {
    const logFile = join(dir, "rewrites-later.jsonl");
    const sent = { type: "TDH.PHYMEM.PAGE.WBINVD" as const, hpa: 0x7000 };
    const rewriter = defineAdversary({
      name: "rewrites-later",
      description: "injects a WBINVD, then changes its address once it has gone",
      wrap: {
        tick(ctx) {
          if (ctx.step === 3) ctx.request("fw", sent);
          if (ctx.step > 3) sent.hpa = 0xbad000;
        },
      },
    });
    const run = await runScenario(scenario, { adversary: rewriter, logFile });
    expect(run.log).toEqual(expectValidLog(logFile));
    const injected = run.log.filter(
      (l) => l.type === "msg" && l.kind === "request" && l.msg.type === "TDH.PHYMEM.PAGE.WBINVD",
    );
    expect(injected.map((l) => l.type === "msg" && "hpa" in l.msg && l.msg.hpa)).toContain(0x7000);
    expect(injected.map((l) => l.type === "msg" && "hpa" in l.msg && l.msg.hpa)).not.toContain(0xbad000);
  });

  it("should end the run as host-crashed when the plug-in throws, with a complete log", async () => {
    const logFile = join(dir, "throws.jsonl");
    const adversary = defineAdversary({
      name: "throws",
      description: "throws on its 40th delivery",
      wrap: {
        onReceive(_env, ctx) {
          if (ctx.step === 40) throw new Error("plug-in bug at step 40");
          return "keep";
        },
      },
    });
    const run = await runScenario(scenario, { adversary, logFile });
    expect(run.result.outcome).toBe("host-crashed");
    expect(run.result.reason).toBe("host threw: plug-in bug at step 40");
    expect(expectValidLog(logFile).at(-1)).toMatchObject({ type: "verdict", outcome: "host-crashed" });
  });

  it("should end the run as host-hung when the plug-in stops answering, with a complete log", async () => {
    const logFile = join(dir, "hangs.jsonl");
    // A host whose VMM asks its own kernel for something, and whose kernel then never answers.
    const hangs = defineAdversary({
      name: "hangs",
      description: "never finishes handling its first delivery",
      replace: () => ({
        name: "host",
        start: () => ({
          out: [
            {
              from: "host/vmm",
              to: "host/kvm",
              kind: "request",
              msg: { type: "KVM_TDX_FINALIZE_VM" },
              ref: 1,
            },
          ],
          effects: [],
        }),
        deliver: () => new Promise<never>(() => {}),
      }),
    });
    const run = await runScenario(scenario, { adversary: hangs, logFile, answerTimeoutMs: 200 });
    expect(run.result.outcome).toBe("host-hung");
    expect(run.result.reason).toMatch(/^host hung: no answer to delivery \d+ within 200 ms$/);
    expect(expectValidLog(logFile).at(-1)).toMatchObject({ type: "verdict", outcome: "host-hung" });
  });

  it("should end the run as host-hung when a plug-in host never answers its start", async () => {
    const logFile = join(dir, "never-starts.jsonl");
    const neverStarts = defineAdversary({
      name: "never-starts",
      description: "its start never resolves",
      replace: () => ({
        name: "host",
        start: () => new Promise<never>(() => {}),
        deliver: () => ({ out: [], effects: [] }),
      }),
    });
    const run = await runScenario(scenario, { adversary: neverStarts, logFile, startTimeoutMs: 200 });
    expect(run.result.outcome).toBe("host-hung");
    expect(run.result.reason).toBe("host hung: no answer to its start within 200 ms");
    expect(expectValidLog(logFile).at(-1)).toMatchObject({ type: "verdict", outcome: "host-hung" });
  });

  it("should take a plug-in by file in process too, and refuse an adversary object for other processes", async () => {
    const file = join(dir, "forge-once.ts");
    writeFileSync(
      file,
      `import { defineAdversary } from "cocomem/plugins";
let forged = false;
export default defineAdversary({
  name: "forge-once",
  description: "sends one message as if it were the TDX module",
  wrap: {
    onSend(out) {
      if (forged) return "keep";
      forged = true;
      return { replace: { ...out, from: "fw" } };
    },
  },
});
`,
    );
    const run = await runScenario(scenario, { hostPlugin: file });
    expect(run.log[0]).toMatchObject({
      type: "header",
      transport: "inproc",
      options: { hostPlugin: file },
    });
    expect(run.log.filter((line) => line.type === "rejected")).toHaveLength(1);
    const loaded = await loadAdversary(file);
    await expect(
      runScenario(scenario, {
        adversary: loaded.ok ? loaded.adversary : undefined,
        transport: processTransport,
      }),
    ).rejects.toThrow(
      "an adversary object cannot cross into the host's process: give its file as `hostPlugin`",
    );
  });

  it("should refuse a plug-in file whose default export is not an adversary", async () => {
    const file = join(dir, "bad.ts");
    writeFileSync(file, "export default { hello: 1 };\n");
    expect(await loadAdversary(file)).toEqual({
      ok: false,
      error: `${file}: the default export must be defineAdversary({ name, description, wrap | replace })`,
    });
    expect(() =>
      defineAdversary({ name: "both", description: "", wrap: {}, replace: () => ({}) as never }),
    ).toThrow(/give exactly one of `wrap` \(hooks\) or `replace`/);
  });
});
