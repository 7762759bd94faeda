// The version written into every log header (replays check it).
export const COCOMEM_VERSION = "0.1.0";
