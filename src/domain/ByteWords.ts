/**
 * Reading bytes four at a time as one little-endian 32-bit word (`DataView.getInt32(p, true)`):
 * the hot paths that scan lines (`formats/JsonBytes.ts`, `Timestamp.ts`) flag each byte of a word
 * in its top bit and look for the first flagged one.
 */

/**
 * The index (0 to 3) of the lowest byte whose top bit is set in `flags` (not 0), which is the first
 * of the word's four bytes in memory (little-endian). A borrow or carry of the arithmetic that made
 * the flags can flag a byte after a flagged one, never before it, so the lowest flag is always a true one.
 */
export const firstFlagged = (flags: number): number => (31 - Math.clz32(flags & -flags)) >> 3
