// A worker thread does not inherit the main thread's TypeScript loader: register tsx, then load
// the worker (tinypool calls its default export).
import { tsImport } from "tsx/esm/api";

const worker = await tsImport("./worker.ts", import.meta.url);
export default worker.default;
