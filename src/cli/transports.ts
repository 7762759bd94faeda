// The transports a user can name with --transport.
import { inprocTransport, type Transport } from "../run/transport.ts";
import { processTransport } from "../transport/index.ts";

export const TRANSPORTS: Readonly<Record<Transport["name"], Transport>> = {
  inproc: inprocTransport,
  process: processTransport,
};
