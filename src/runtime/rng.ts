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
  return customRandom(ID_ALPHABET, size, (bytes) => {
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) out[i] = rng.nextU32() & 0xff;
    return out;
  });
}
