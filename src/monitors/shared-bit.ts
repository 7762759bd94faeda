// Monitors need the TD's shared bit to tell private from shared accesses; they learn it the way
// the guest does, from the TDG.VP.INFO answer in the log.
import { DEFAULT_SHARED_BIT, sharedBitOf } from "../../protocol/index.ts";
import type { LogLine } from "../../protocol/log.ts";

export class SharedBitTracker {
  value = DEFAULT_SHARED_BIT;

  observe(line: LogLine): void {
    if (
      line.type === "msg" &&
      line.kind === "response" &&
      line.msg.type === "TDG.VP.INFO" &&
      "gpaWidth" in line.msg
    ) {
      this.value = sharedBitOf(line.msg.gpaWidth);
    }
  }

  isShared(gpa: number): boolean {
    return gpa >= this.value;
  }
}

export const pfn = (hpa: number): number => Math.floor(hpa / 0x1000);
export const isHost = (by: string): boolean => by.startsWith("host/");
export const isGuest = (by: string): boolean => by.startsWith("guest/");
