/**
 * How far a source has been consumed, as plain JSON numbers for the
 * checkpoint. A file: `{ "bytes": n }`; stdin adds a `fingerprint` of those n
 * bytes, so a rerun can tell whether it is fed the same input. A TCP
 * connection cannot be replayed and has the empty position `{}`.
 */
import * as Schema from "effect/Schema"

export const SourcePosition = Schema.Record(Schema.String, Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
export type SourcePosition = { readonly [key: string]: number }
