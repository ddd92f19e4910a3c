/**
 * The analyzer's durable outputs. Each store writes one part file per epoch
 * (`part-<epoch>.jsonl`): lines are appended to a hidden temp file as they
 * come, and `seal` fsyncs and renames it, so a reader never sees a torn line
 * and rewriting an epoch after a crash replaces, never duplicates.
 * `discardAfter(epoch)` removes parts that a crash left ahead of the last
 * checkpoint.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PartFolder } from "./PartFolder.ts"
import type { StoreError } from "./StoreError.ts"

export interface LineStore {
  /** Where it writes, for people. */
  readonly description: string
  /** Adds lines to the epoch's part; nothing is visible before `seal`. */
  readonly append: (epoch: number, lines: ReadonlyArray<string>) => Effect.Effect<void, StoreError>
  /** Makes the epoch's lines durable and visible. */
  readonly seal: (epoch: number) => Effect.Effect<void, StoreError>
  /** Recovery: drops every part of the epochs after `epoch`, and whatever a crash left half-written. */
  readonly discardAfter: (epoch: number) => Effect.Effect<void, StoreError>
}

/** In-memory store for tests: `parts` maps each sealed epoch to its lines. */
export const memoryStore = (parts: Map<number, ReadonlyArray<string>> = new Map()): LineStore => {
  const pending = new Map<number, Array<string>>()
  return {
    description: "memory",
    append: (epoch, lines) =>
      Effect.sync(() => {
        const into = pending.get(epoch) ?? []
        for (const line of lines) into.push(line)
        pending.set(epoch, into)
      }),
    seal: (epoch) =>
      Effect.sync(() => {
        const lines = pending.get(epoch)
        pending.delete(epoch)
        if (lines !== undefined && lines.length > 0) parts.set(epoch, lines)
      }),
    discardAfter: (epoch) =>
      Effect.sync(() => {
        pending.clear()
        for (const key of parts.keys()) if (key > epoch) parts.delete(key)
      })
  }
}

const fileStore = (folder: string): Effect.Effect<LineStore, StoreError> =>
  Effect.map(PartFolder.open(folder), (parts) => ({
    description: folder,
    append: parts.append,
    seal: parts.seal,
    discardAfter: parts.discardAfter
  }))

/** Every valid error record, one JSON object per line. */
export class ErrorStore extends Context.Service<ErrorStore, LineStore>()("loglens/sinks/ErrorStore") {
  static readonly layerFile = (folder: string) => Layer.effect(ErrorStore, fileStore(folder))
  static readonly layerMemory = (parts?: Map<number, ReadonlyArray<string>>) =>
    Layer.succeed(ErrorStore, memoryStore(parts))
}

/** One final row per closed (window, status). */
export class WindowStore extends Context.Service<WindowStore, LineStore>()("loglens/sinks/WindowStore") {
  static readonly layerFile = (folder: string) => Layer.effect(WindowStore, fileStore(folder))
  static readonly layerMemory = (parts?: Map<number, ReadonlyArray<string>>) =>
    Layer.succeed(WindowStore, memoryStore(parts))
}

/** `{"line", "reason"}` for every line that is not a valid record. */
export class RejectedStore extends Context.Service<RejectedStore, LineStore>()("loglens/sinks/RejectedStore") {
  static readonly layerFile = (folder: string) => Layer.effect(RejectedStore, fileStore(folder))
  static readonly layerMemory = (parts?: Map<number, ReadonlyArray<string>>) =>
    Layer.succeed(RejectedStore, memoryStore(parts))
}
