// One seed, one root generator, forked per component (TigerBeetle's VOPR habit): the scheduler and
// the id source each get their own stream, so adding ids never changes the schedule.
import { customRandom } from "nanoid";

/** sfc32: small, fast, and identical on every platform (pure 32-bit integer arithmetic). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9 ^ stream;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.nextU32() / 0x100000000) * n);
  }

  fork(stream: number): Rng {
    return new Rng(this.nextU32(), stream);
  }
}

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";

/** Message ids from nanoid, fed by the seeded generator instead of the OS. */
export function seededIds(rng: Rng, size = 10): () => string {
  // nanoid asks for the same number of bytes every time: refill one buffer instead of allocating.
  let buffer = new Uint8Array(0);
  return customRandom(ID_ALPHABET, size, (bytes) => {
    if (buffer.length !== bytes) buffer = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 4) {
      const word = rng.nextU32();
      buffer[i] = word & 0xff;
      buffer[i + 1] = (word >>> 8) & 0xff;
      buffer[i + 2] = (word >>> 16) & 0xff;
      buffer[i + 3] = word >>> 24;
    }
    return buffer;
  });
}
