/**
 * The analyzer's checkpoint: everything needed to resume as if it had never
 * stopped. One JSON file, `checkpoint.json`, replaced atomically after each
 * epoch's outputs are durable. It is versioned and records the settings that
 * shape results, so a restart with different settings refuses to mix old
 * state with new.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { Alert } from "../domain/Alert.ts"
import type { AnalysisSnapshot } from "../domain/Analysis.ts"
import type { SourcePosition } from "../transport/LineSource.ts"
import { describeIoError, writeFileAtomic } from "./PartFolder.ts"

export const CHECKPOINT_VERSION = 1

/** The settings a checkpoint is only valid for, with the flag that sets each. */
export interface CheckpointSettings {
  readonly source: string
  readonly format: string
  readonly window: string
  readonly watermark: string
  readonly threshold: number
}

export interface Checkpoint {
  readonly version: number
  readonly settings: CheckpointSettings
  /** The last epoch whose outputs are all durable. */
  readonly epoch: number
  readonly position: SourcePosition
  readonly analysis: AnalysisSnapshot
  /** The alerts of `epoch`, kept until the next checkpoint in case publishing was cut short. */
  readonly alerts: ReadonlyArray<Alert>
  /** True once a replayed input was read to its end and flushed. */
  readonly finished: boolean
}

export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export class CheckpointStore extends Context.Service<CheckpointStore, {
  readonly description: string
  readonly load: Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
  readonly save: (checkpoint: Checkpoint) => Effect.Effect<void, CheckpointError>
}>()("loglens/sinks/CheckpointStore") {
  static readonly layerFile = (folder: string) => {
    const file = path.join(folder, "checkpoint.json")
    return Layer.effect(
      CheckpointStore,
      Effect.tryPromise({
        try: () => fs.mkdir(folder, { recursive: true }),
        catch: (cause) =>
          new CheckpointError({ message: `could not create the checkpoint folder ${folder}: ${describeIoError(cause)}`, cause })
      }).pipe(Effect.as(CheckpointStore.of({
        description: file,
        load: Effect.tryPromise({
          try: async () => {
            let text: string
            try {
              text = await fs.readFile(file, "utf8")
            } catch (cause) {
              if ((cause as { code?: string }).code === "ENOENT") return Option.none()
              throw cause
            }
            return Option.some(parseCheckpoint(text, file))
          },
          catch: (cause) =>
            cause instanceof CheckpointError
              ? cause
              : new CheckpointError({ message: `could not read the checkpoint ${file}: ${describeIoError(cause)}`, cause })
        }),
        save: (checkpoint) =>
          writeFileAtomic(file, JSON.stringify(checkpoint)).pipe(
            Effect.mapError((e) => new CheckpointError({ message: e.message, cause: e }))
          )
      })))
    )
  }

  /** Tests: keeps the checkpoint in `cell.current`. */
  static readonly layerMemory = (cell: { current: Checkpoint | undefined } = { current: undefined }) =>
    Layer.succeed(CheckpointStore, {
      description: "memory",
      load: Effect.sync(() => Option.fromNullishOr(cell.current)),
      save: (checkpoint) => Effect.sync(() => void (cell.current = structuredClone(checkpoint)))
    })
}

const parseCheckpoint = (text: string, file: string): Checkpoint => {
  let value: Checkpoint
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new CheckpointError({
      message: `the checkpoint ${file} is not valid JSON. It was not written by loglens or was edited; ` +
        `start over with --clean or use another --checkpoint folder.`,
      cause
    })
  }
  if (value?.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError({
      message: `the checkpoint ${file} has format version ${String(value?.version)}, but this loglens writes version ` +
        `${CHECKPOINT_VERSION}. Start over with --clean or use another --checkpoint folder.`
    })
  }
  return value
}

/** Plain-words differences between a checkpoint's settings and the current ones. */
export const settingsDifferences = (saved: CheckpointSettings, current: CheckpointSettings): Array<string> => {
  const flags: Record<keyof CheckpointSettings, string> = {
    source: "input source",
    format: "--format",
    window: "--window",
    watermark: "--watermark",
    threshold: "--threshold"
  }
  const differences: Array<string> = []
  for (const key of Object.keys(flags) as Array<keyof CheckpointSettings>) {
    if (String(saved[key]) !== String(current[key])) {
      differences.push(`${flags[key]} was ${JSON.stringify(saved[key])}, now ${JSON.stringify(current[key])}`)
    }
  }
  return differences
}
