// What a viewer page carries: the run's log lines as they were read, and what is known about where
// they came from. The Node side (source.ts) fills it in; the page's script (client/) reads it back.
import type { LogLine } from "../../protocol/log.ts";

/** A line the explorer's counterexample marks: one of the host's departures from the honest path. */
export interface MarkedStep {
  seq: number;
  /** The departure, as the explorer's story tells it ("host sends TDH.MEM.PAGE.REMOVE(...)"). */
  text: string;
}

export interface ViewData {
  /** The file the run came from, as given on the command line. */
  source: string;
  lines: LogLine[];
  /**
   * Why the log stops short, if it does: no verdict line (the run was killed, or is still
   * running), or a last line cut in the middle.
   */
  cut?: string;
  /** A part of the log (`--from`/`--to`): the seqs asked for, and how many lines the whole log has. */
  slice?: { from?: number; to?: number; of: number };
  /** For a replay file: how the replay went, the explorer's story and the steps it marks. */
  replay?: {
    result: string;
    story: string[];
    marked: MarkedStep[];
    shrunk: boolean;
  };
}

/** The element holding the page's data: the JSON of a ViewData, gzipped, in base64. */
export const DATA_ELEMENT_ID = "cocomem-data";
export const DATA_TYPE = "application/x-cocomem-json-gzip-base64";
