/**
 * A fingerprint of the bytes an input has been consumed to: SHA-1 over them,
 * cut to 48 bits so that it stays a plain JSON number in the checkpoint's
 * source position. It is what lets stdin, which cannot be reopened, be
 * resumed exactly: a rerun must be fed the same first bytes, and anything
 * else is detected rather than counted twice.
 *
 * The line splitter feeds it the bytes of each line it emits, in order. An
 * over-long line is streamed and dropped as it arrives, so its bytes are
 * hashed into a copy while the line lasts: the fingerprint stays the one of
 * the position before it until the line ends.
 */
import * as crypto from "node:crypto"

export class PrefixFingerprint {
  private pendingLong: crypto.Hash | undefined = undefined

  /** `consumed`: the hash of a prefix already read (a resumed input), else a fresh one. */
  constructor(private consumed: crypto.Hash = crypto.createHash("sha1")) {}

  /** These bytes are consumed (whole lines, or a skipped byte-order mark). */
  add(bytes: Uint8Array): void {
    this.consumed.update(bytes)
  }

  /** Bytes of an over-long line that has not ended yet. */
  addToLongLine(bytes: Uint8Array): void {
    this.pendingLong ??= this.consumed.copy()
    this.pendingLong.update(bytes)
  }

  /** The over-long line ended (after `addToLongLine` of its last bytes): all of it is consumed. */
  endLongLine(): void {
    if (this.pendingLong === undefined) return
    this.consumed = this.pendingLong
    this.pendingLong = undefined
  }

  /** The fingerprint of everything consumed so far. */
  value(): number {
    return fingerprintOf(this.consumed)
  }
}

export const fingerprintOf = (hash: crypto.Hash): number => hash.copy().digest().readUIntBE(0, 6)
