/**
 * Where the generator's lines go: stdout, clients of the built-in TCP server,
 * or a Kafka topic. `write` resolves once the sink has taken the lines, so a
 * slow consumer slows the generator down instead of losing lines. `ready`
 * resolves once there is somebody to send to; the generator's rate clock
 * starts then.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  message: Schema.String,
  /** The reader went away on purpose (`generate | head`): the end of the run, not a failure. */
  readerGone: Schema.optional(Schema.Boolean),
  cause: Schema.optional(Schema.Defect())
}) {}

export class LineSink extends Context.Service<LineSink, {
  /** For people: `stdout`, `tcp://127.0.0.1:9999`, `kafka:http-logs`. */
  readonly description: string
  /**
   * Resolves once lines can reach somebody: the TCP server's first client. Absent: at once.
   * The generator waits for it before it takes its start time, so there is no start-up burst.
   */
  readonly ready?: Effect.Effect<void, SinkError>
  /** Lines without their trailing newline. */
  readonly write: (lines: ReadonlyArray<string>) => Effect.Effect<void, SinkError>
}>()("loglens/transport/LineSink") {}
