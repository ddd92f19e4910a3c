/**
 * Where local mode's analyzer gets its lines: a live TCP connection, a file
 * or stdin (production mode reads Kafka through its own stages, see
 * `transport/kafka/Stages.ts`). Every layer yields `LineBatch`es of whole lines,
 * each tagged with the source position just after it, so the analyzer can
 * checkpoint exactly what it has consumed and resume from there.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { RejectedLine } from "../domain/RejectedLine.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"

/**
 * A batch may be empty: a live source emits one when it is connected and
 * reading again, so that the analyzer counts idle time from then on rather
 * than from its own restart.
 */
export interface LineBatch {
  /**
   * Whole lines. A string is one line without its `\n`. A byte array is a run of valid UTF-8
   * lines separated by `\n` (the last one has none), none longer than the source's line limit:
   * most input stays bytes, and the analyzer decodes only the lines it keeps.
   */
  readonly lines: ReadonlyArray<string | Uint8Array>
  /** Lines refused before decoding: too long, or not UTF-8. */
  readonly rejected: ReadonlyArray<RejectedLine>
  /** Position just after this batch. */
  readonly position: SourcePosition
  /** The input partition the lines come from; TCP and files are one partition, 0 (the default). */
  readonly partition?: number
  /** The lines' partition has nothing unread after them (default true: a local source waits for input). */
  readonly caughtUp?: boolean
}

export class SourceError extends Schema.TaggedError<SourceError>()("SourceError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export class LineSource extends Context.Service<LineSource, {
  /** For people: `tcp://localhost:9999`, `file:access.log`. */
  readonly description: string
  /** What a checkpoint must agree on before resuming from it. */
  readonly identity: string
  /**
   * Live sources can go quiet, so idle windows close on a timer, and a graceful stop (SIGINT,
   * SIGTERM) ends the stream: every open window closes. Replayed ones end instead, and a stop keeps
   * their open windows in the checkpoint for the run that continues (the answer must not depend on
   * when it was stopped).
   */
  readonly live: boolean
  /**
   * A replay that a checkpoint says was read to its end: fails, in plain words, unless the input
   * still ends at `position` (a longer file, or other bytes on stdin, are not skipped silently).
   */
  readonly checkEnded?: (position: SourcePosition) => Effect.Effect<void, SourceError>
  /** The lines from `from` on (the start, or the policy's start, when undefined). */
  readonly batches: (from: SourcePosition | undefined) => Stream.Stream<LineBatch, SourceError>
  /** Acknowledges everything up to `position`, where epoch `epoch` ended, once its results are durable and published. */
  readonly commit: (position: SourcePosition, epoch: number) => Effect.Effect<void, SourceError>
}>()("loglens/transport/LineSource") {}
