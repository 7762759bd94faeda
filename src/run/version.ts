// The version written into every log header, so a log says which cocomem wrote it. Read from
// package.json: one place to bump per release (CHANGELOG.md says what each one brought).
import { createRequire } from "node:module";

export const COCOMEM_VERSION: string = createRequire(import.meta.url)("../../package.json").version;
