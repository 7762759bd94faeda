// The domain notes in docs/domain/ are cited by the code, the README and the CHANGELOG: every
// citation must name a file (and, with a #section, a heading) that exists, and the attack notes
// must cover every attack of the corpus with the cells the catalogue predicts.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ATTACKS } from "../../src/adversaries/corpus/catalogue.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DOMAIN = join(ROOT, "docs", "domain");
/** The notes a bare file name stands for, wherever it is mentioned. */
const NOTES = ["attacks", "tdx", "pkvm", "guest_memfd", "corrections"];
const SCANNED_DIRS = ["src", "actors", "protocol", "test", "bench", "bin", "docs"];
const SCANNED_FILES = ["README.md", "CHANGELOG.md"];
const EXTENSIONS = /\.(ts|mts|cts|js|mjs|cjs|md)$/;

interface Reference {
  /** Repository-relative path of the file that cites. */
  from: string;
  line: number;
  /** The note cited, as a path relative to the repository root. */
  target: string;
  anchor?: string;
}

function* files(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (EXTENSIONS.test(name)) yield path;
  }
}

/**
 * Citations of the domain notes in one file's text: `docs/domain/<name>.md[#anchor]` (from the
 * root), a bare `<note>.md[#anchor]` (a note of docs/domain/), and inside docs/domain/ any
 * relative markdown link, resolved from there.
 */
function referencesIn(from: string, text: string): Reference[] {
  const refs: Reference[] = [];
  const inDomain = from.startsWith("docs/domain/");
  const lines = text.split("\n");
  lines.forEach((content, i) => {
    const line = i + 1;
    for (const m of content.matchAll(/docs\/domain\/([\w.-]+\.md)(?:#([\w-]+))?/g)) {
      refs.push({ from, line, target: `docs/domain/${m[1]}`, ...(m[2] ? { anchor: m[2] } : {}) });
    }
    const bare = new RegExp(`(?<![\\w/.-])(${NOTES.join("|")})\\.md(?:#([\\w-]+))?`, "g");
    // The lookbehind skips a name that is part of a path (docs/domain/tdx.md is counted above).
    for (const m of content.matchAll(bare)) {
      refs.push({ from, line, target: `docs/domain/${m[1]}.md`, ...(m[2] ? { anchor: m[2] } : {}) });
    }
    if (!inDomain) return;
    for (const m of content.matchAll(/\]\(([^)\s#]+\.md)(?:#([\w-]+))?\)/g)) {
      if (/^[a-z]+:/.test(m[1]!)) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(from), m[1]!));
      if (NOTES.some((n) => target === `docs/domain/${n}.md`)) continue; // counted as bare above
      refs.push({ from, line, target, ...(m[2] ? { anchor: m[2] } : {}) });
    }
  });
  return refs;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\s-]/g, "")
    .replace(/\s/g, "-");

function anchorsOf(path: string): Set<string> {
  const text = readFileSync(join(ROOT, path), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

function allReferences(): Reference[] {
  const paths = [
    ...SCANNED_DIRS.flatMap((d) => [...files(join(ROOT, d))]),
    ...SCANNED_FILES.map((f) => join(ROOT, f)).filter(existsSync),
  ];
  return paths.flatMap((p) => referencesIn(relative(ROOT, p), readFileSync(p, "utf8")));
}

describe("references to the domain notes", () => {
  it("should find citations in the forms the repository uses", () => {
    // Built from pieces so this file does not cite a note that is missing.
    const missing = `docs/domain/${"no-such-note"}.md`;
    expect(
      referencesIn("src/x.ts", `// see ${missing} and attacks.md#a3-double-accept-the-silent-zero-page`),
    ).toEqual([
      { from: "src/x.ts", line: 1, target: missing },
      {
        from: "src/x.ts",
        line: 1,
        target: "docs/domain/attacks.md",
        anchor: "a3-double-accept-the-silent-zero-page",
      },
    ]);
    expect(referencesIn("docs/domain/tdx.md", "[x](../../README.md#quick-start)")).toEqual([
      { from: "docs/domain/tdx.md", line: 1, target: "README.md", anchor: "quick-start" },
    ]);
  });

  it("should name only files that exist", () => {
    const refs = allReferences();
    expect(refs.length).toBeGreaterThan(0);
    const broken = refs
      .filter((r) => !existsSync(join(ROOT, r.target)))
      .map((r) => `${r.from}:${r.line} cites ${r.target}`);
    expect(broken).toEqual([]);
  });

  it("should cite only sections that exist", () => {
    const broken = allReferences()
      .filter((r) => r.anchor !== undefined && existsSync(join(ROOT, r.target)))
      .filter((r) => !anchorsOf(r.target).has(r.anchor!))
      .map((r) => `${r.from}:${r.line} cites ${r.target}#${r.anchor}`);
    expect(broken).toEqual([]);
  });

  it("should have every note the index lists, and list every note", () => {
    const index = readFileSync(join(DOMAIN, "README.md"), "utf8");
    const listed = [...index.matchAll(/\]\(([\w.-]+\.md)\)/g)].map((m) => m[1]).sort();
    const present = readdirSync(DOMAIN)
      .filter((f) => f.endsWith(".md") && f !== "README.md")
      .sort();
    expect(listed).toEqual(present);
    expect(present).toEqual(NOTES.map((n) => `${n}.md`).sort());
  });
});

describe("docs/domain/attacks.md", () => {
  const text = readFileSync(join(DOMAIN, "attacks.md"), "utf8");
  const lines = text.split("\n");
  const heading = (id: string) => lines.some((l) => new RegExp(`^#{1,6}\\s+${id}\\b`).test(l));
  const row = (id: string) => lines.find((l) => new RegExp(`^\\|\\s*${id}\\s*\\|`).test(l));

  it("should describe every attack of the corpus in a heading and a matrix row", () => {
    const missing = ATTACKS.filter((a) => !heading(a.id) || !row(a.id)).map((a) => a.id);
    expect(missing).toEqual([]);
  });

  it("should give each attack the cells the catalogue predicts", () => {
    const wrong: string[] = [];
    for (const attack of ATTACKS) {
      const cells = row(attack.id)!
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      const documented = cells.slice(2, 6);
      const expected = [
        attack.expected.tdx.linux,
        attack.expected.tdx.naive,
        attack.expected.pkvm.linux,
        attack.expected.pkvm.naive,
      ];
      if (documented.join(",") !== expected.join(","))
        wrong.push(`${attack.id}: documented ${documented.join(", ")}; catalogue ${expected.join(", ")}`);
    }
    expect(wrong).toEqual([]);
  });

  it("should say why the attacks beyond the corpus are out of scope", () => {
    const last = Number(ATTACKS.at(-1)!.id.slice(1));
    for (const id of [`A${last + 1}`, `A${last + 2}`]) {
      expect(heading(id), id).toBe(true);
      expect(row(id), id).toMatch(/out of scope/);
    }
  });
});
