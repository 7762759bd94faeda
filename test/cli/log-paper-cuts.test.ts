// `cocomem log` on the inputs users actually give it: a size for --page as scenarios write GPAs,
// the addresses the log itself prints for --party, an unknown --type, an empty file, the log of a
// killed run; and addresses in hex on both platforms.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScenario } from "../../src/run/run.ts";
import { BUILT_IN } from "../../src/scenarios/index.ts";
import { type ConvertLog, convertLog } from "../log/fixture.ts";
import { cli, expectUsageError } from "./capture.ts";

let log: ConvertLog;
let dir: string;
let pkvm: string;
beforeAll(async () => {
  log = await convertLog();
  dir = await mkdtemp(join(tmpdir(), "cocomem-log-cuts-"));
  pkvm = join(dir, "pkvm.jsonl");
  const scenario = BUILT_IN.find((s) => s.spec.name === "pkvm/share-unshare")!;
  await runScenario(scenario, { logFile: pkvm, keepLog: false });
});
afterAll(async () => {
  await log.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("cocomem log: addresses as scenarios write them", () => {
  it("should take --page 2M (the README's worked example) as 0x200000", async () => {
    const hex = await cli("log", log.file, "--page", "0x200000");
    const size = await cli("log", log.file, "--page", "2M");
    const decimal = await cli("log", log.file, "--page", String(0x200000));
    expect(size).toEqual({ code: 0, out: hex.out, err: "" });
    expect(decimal.out).toBe(hex.out);
    expect(hex.out).toMatch(/^page 0x200000 \(\d+ entries\)\n/);
    const gpa = await cli("log", log.file, "--gpa", "2M", "--type", "sept");
    expect(gpa.out).toBe((await cli("log", log.file, "--gpa", "0x200000", "--type", "sept")).out);
  });

  it("should refuse an address that is none of hex, decimal or a size", async () => {
    const message = expectUsageError(await cli("log", log.file, "--page", "2MB"), "cocomem log: ");
    expect(message).toContain("0x... (hex), decimal, or a size such as 2M");
  });
});

describe("cocomem log --party", () => {
  it("should take the addresses the log prints (fw, host/kvm, guest/vcpu0) as well as party names", async () => {
    const fw = await cli("log", log.file, "--party", "fw", "--limit", "50");
    expect(fw.code).toBe(0);
    const rows = fw.out.trimEnd().split("\n");
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) expect(row).toMatch(/(-> fw |fw -> |effect fw )/);
    // An address is narrower than its party: host/vmm leaves out KVM's calls into the module.
    const vmm = await cli("log", log.file, "--party", "host/vmm");
    const host = await cli("log", log.file, "--party", "host");
    for (const row of vmm.out.trimEnd().split("\n")) expect(row).toContain("host/vmm");
    expect(host.out).toContain("host/kvm -> fw");
    expect(vmm.out.split("\n").length).toBeLessThan(host.out.split("\n").length);
    const vcpu = await cli("log", log.file, "--party", "guest/vcpu0", "--type", "TDG.MEM.PAGE.ACCEPT");
    expect(vcpu.out).toMatch(/guest\/vcpu0 -> fw {2}request {2}TDG\.MEM\.PAGE\.ACCEPT/);
  });

  it("should refuse a name that is neither a party nor an address, listing both", async () => {
    const message = expectUsageError(await cli("log", log.file, "--party", "kvm"), "cocomem log: ");
    expect(message).toContain("guest, host, trusted");
    expect(message).toContain("host/kvm");
  });
});

describe("cocomem log --type", () => {
  it("should refuse a type that matches nothing, listing the known types", async () => {
    const message = expectUsageError(
      await cli("log", log.file, "--type", "TDH.MEM.PAGE.AUGMENT"),
      "cocomem log: ",
    );
    expect(message).toContain("TDH.MEM.PAGE.AUG");
    expect(message).toContain("Effect kinds: accepted, attr,");
    expect(message).toContain("sept");
    // A prefix ends at a dot: "TDH.ME" matched nothing, silently.
    expectUsageError(await cli("log", log.file, "--type", "TDH.ME"), "cocomem log: ");
  });

  it("should still take exact types, prefixes and effect kinds", async () => {
    for (const type of ["TDH.MEM.PAGE.AUG", "TDH.MEM", "TDH.MEM.", "sept", "host.access"]) {
      const result = await cli("log", log.file, "--type", type, "--limit", "1");
      expect(result.code, type).toBe(0);
      expect(result.out, type).not.toBe("");
    }
  });
});

describe("cocomem log on logs that are not whole", () => {
  it("should refuse an empty file with exit 2 instead of printing nothing", async () => {
    const empty = join(dir, "empty.json");
    await writeFile(empty, "");
    expect(expectUsageError(await cli("log", empty), "cocomem log: ")).toMatch(/empty\.json is empty/);
    const blank = join(dir, "blank.jsonl");
    await writeFile(blank, "\n\n");
    expectUsageError(await cli("log", blank, "--page", "2M"), "cocomem log: ");
  });

  it("should warn on stderr when the log has no verdict line (killed, or still running)", async () => {
    const rows = (await readFile(log.file, "utf8")).trimEnd().split("\n");
    expect(JSON.parse(rows.at(-1)!).type).toBe("verdict");
    const killed = join(dir, "killed.jsonl");
    await writeFile(killed, `${rows.slice(0, -40).join("\n")}\n`);
    const result = await cli("log", killed, "--type", "sept");
    expect(result.code).toBe(0);
    expect(result.out).not.toBe("");
    expect(result.err).toBe(
      `cocomem log: warning: ${killed} has no verdict line: the run was killed, or is still running\n`,
    );
    expect((await cli("log", log.file, "--type", "sept")).err).toBe("");
  });
});

describe("cocomem log text output", () => {
  it("should print addresses in hex on pKVM as on TDX (ipa, pfn, gfn, hpa), follow a page by them; JSON keeps numbers", async () => {
    const text = await cli("log", pkvm);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/ipa=0x[0-9a-f]+/);
    expect(text.out).toMatch(/__pkvm_host_donate_guest pfn=0x[0-9a-f]+ gfn=0x[0-9a-f]+/);
    expect(text.out).not.toMatch(/\b(ipa|pfn|gfn|gpa|hpa|spt|phys)=(?!0x)\d/);
    const tdx = await cli("log", log.file);
    expect(tdx.out).not.toMatch(/\b(ipa|pfn|gfn|gpa|hpa|spt|phys)=(?!0x)\d/);
    expect(tdx.out).toMatch(/spt=0x[0-9a-f]+/);
    const page = await cli("log", pkvm, "--page", "1M");
    expect(page.out).toMatch(/^page 0x100000 /);
    // pKVM names the page by IPA (the guest's calls, its exits) and by gfn (the host's hypercalls).
    expect(page.out).toMatch(/__pkvm_host_donate_guest request -> fw pfn=0x100000 gfn=0x100/);
    expect(page.out).toMatch(/ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE request -> fw ipa=0x100000/);
    expect(page.out).toMatch(/exit=\{reason=DABT_LOW ipa=0x100000 /);
    const json = await cli("log", pkvm, "--format", "json", "--type", "ARM_SMCCC_VENDOR_HYP_KVM_MEM_SHARE");
    expect(JSON.parse(json.out.split("\n")[0]!).msg.ipa).toEqual(expect.any(Number));
  });
});
