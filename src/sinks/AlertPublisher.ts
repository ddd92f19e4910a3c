/**
 * Where local mode's alerts go: a part file per epoch under `alerts/`
 * (production mode's alerts go to Kafka in its stage 2's transactions, see
 * `transport/kafka/WindowWriter.ts`). `publish` is called once an epoch's other outputs
 * and its checkpoint are durable; `recover` is called at start-up with the
 * last checkpoint's alerts, in case the process died before publishing them,
 * and must not publish anything twice.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { Alert } from "../domain/Alert.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import { PartFolder } from "./PartFolder.ts"

export class AlertError extends Schema.TaggedError<AlertError>()("AlertError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export class AlertPublisher extends Context.Service<AlertPublisher, {
  readonly description: string
  /** Publishes one epoch's alerts; `position` is the source position that epoch ends at. */
  readonly publish: (epoch: number, alerts: ReadonlyArray<Alert>, position: SourcePosition) => Effect.Effect<void, AlertError>
  /** Republishes what a crash may have left unpublished, skipping whatever did get out. */
  readonly recover: (epoch: number, alerts: ReadonlyArray<Alert>, position: SourcePosition) => Effect.Effect<void, AlertError>
}>()("loglens/sinks/AlertPublisher") {
  /** Local mode: `alerts/part-<epoch>.jsonl` (the analyzer prints each alert on the console, in every mode). */
  static readonly layerFile = (folder: string) =>
    Layer.effect(
      AlertPublisher,
      Effect.gen(function*() {
        const parts = yield* PartFolder.open(folder).pipe(
          Effect.mapError((e) => new AlertError({ message: e.message, cause: e }))
        )
        const writePart = (epoch: number, alerts: ReadonlyArray<Alert>) =>
          parts.write(epoch, alerts.map((alert) => JSON.stringify(alert))).pipe(
            Effect.mapError((e) => new AlertError({ message: e.message, cause: e }))
          )
        return AlertPublisher.of({
          description: folder,
          publish: Effect.fnUntraced(function*(epoch, alerts) {
            if (alerts.length === 0) return
            yield* writePart(epoch, alerts)
          }),
          // Rewriting the same part file is idempotent.
          recover: (epoch, alerts) => writePart(epoch, alerts)
        })
      })
    )

  /** Tests: collects published alerts in `into`, in order. */
  static readonly layerMemory = (into: Array<Alert>) =>
    Layer.succeed(AlertPublisher, {
      description: "memory",
      publish: (_epoch, alerts) => Effect.sync(() => void into.push(...alerts)),
      recover: () => Effect.void
    })
}
