// Text into HTML, for the page's shell (html.ts) and its rows and panels (client/) alike.
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };

/** `text` safe inside an element or a double-quoted attribute. */
export const esc = (text: string): string => text.replace(/[&<>"]/g, (c) => ESCAPES[c]!);
