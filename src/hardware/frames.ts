// Physical memory: 4K frames with a content label, the key they were last written with, and a
// poison bit. Sparse: an untouched frame costs nothing. Each touched frame is one Map entry
// holding a packed number (content id, key id, poison), and contents are interned, so a million
// zeroed frames share one label.
import { type Content, contentKey } from "../../protocol/index.ts";

export const PAGE_SHIFT = 12;
export const pfnOf = (hpa: number): number => Math.floor(hpa / 0x1000);
export const hpaOf = (pfn: number): number => pfn * 0x1000;

export interface Frame {
  content: Content;
  /** 0 = a host (shared) key; a TD's HKID for private frames. */
  keyId: number;
  /** Integrity check failed (e.g. a host write to a private line): a read consumes poison (#MC). */
  poisoned: boolean;
}

const KEY_BITS = 2048; // key ids below 1024, shifted left one bit for the poison flag
const UNINIT: Content = { k: "uninit" };

export class FrameStore {
  private readonly frames = new Map<number, number>();
  private readonly contents: Content[] = [UNINIT];
  private readonly contentIds = new Map<string, number>([[contentKey(UNINIT), 0]]);

  get(pfn: number): Frame {
    const packed = this.frames.get(pfn);
    if (packed === undefined) return { content: UNINIT, keyId: 0, poisoned: false };
    return {
      content: this.contents[Math.floor(packed / KEY_BITS)]!,
      keyId: Math.floor((packed % KEY_BITS) / 2),
      poisoned: packed % 2 === 1,
    };
  }

  set(pfn: number, frame: Frame): void {
    this.frames.set(pfn, this.intern(frame.content) * KEY_BITS + frame.keyId * 2 + (frame.poisoned ? 1 : 0));
  }

  /** Frames ever touched (the model's memory cost driver). */
  get touched(): number {
    return this.frames.size;
  }

  private intern(content: Content): number {
    const key = contentKey(content);
    let id = this.contentIds.get(key);
    if (id === undefined) {
      id = this.contents.length;
      this.contents.push(content);
      this.contentIds.set(key, id);
    }
    return id;
  }
}
