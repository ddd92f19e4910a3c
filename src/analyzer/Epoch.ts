/**
 * The epoch protocol: how every output of the analyzer is produced exactly
 * once, across crashes, restarts and signals.
 *
 * Work is grouped into epochs. While epoch N+1 runs, `buffer` hands its
 * errors and rejections to their stores, where they wait in hidden files.
 * `commit` then ends it, in four named steps (the two phases of Flink's
 * TwoPhaseCommitSinkFunction: the first step prepares, the second commits):
 *
 *   1. sealStores         errors/, windows/, rejected/: the epoch's part files
 *                         become durable and visible (`part-<N+1>.jsonl`)
 *   2. saveCheckpoint     the analysis state and the source position those
 *                         parts correspond to; this is the commit point
 *   3. publishAlerts      the epoch's alerts: a part file (the analyzer prints them)
 *   4. acknowledgeSource  the source may forget what precedes the position
 *
 * `recover`, at start-up, is the other half: it decodes and checks the last
 * checkpoint before anything acts on it (a checkpoint of other settings or of
 * another output is refused, and nothing is deleted on its word), restores
 * the state and says where the source reads on. For a replay its last two
 * steps wait for the run's first write, so that a source that refuses to
 * resume (stdin fed other bytes) changes nothing either: `discardLeftovers` removes the
 * parts of epochs after the checkpoint (a crash between steps 1 and 2), and
 * `republishAlerts` publishes its alerts again unless they are out (a crash
 * between steps 2 and 3).
 *
 * Guarantees:
 * - A crash at any point loses nothing and doubles nothing: the next
 *   `recover` redoes the epoch that was cut short, from its first step.
 * - This module is the only writer of the stores, and `buffer` and `commit`
 *   run to their end once started (uninterruptible), so a signal lands
 *   between them, never inside an append, a seal or a checkpoint write.
 * - An epoch with nothing in it is not committed.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type Analysis, AnalysisOutput } from "../domain/Analysis.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import { type AlertError, AlertPublisher } from "../sinks/AlertPublisher.ts"
import { CheckpointStore, type CheckpointSettings, settingsDifferences } from "../sinks/CheckpointStore.ts"
import type { StoreError } from "../sinks/StoreError.ts"
import { ErrorStore, RejectedStore, WindowStore } from "../sinks/Stores.ts"
import { LineSource } from "../transport/LineSource.ts"

export class CheckpointMismatch extends Schema.TaggedError<CheckpointMismatch>()("CheckpointMismatch", {
  message: Schema.String
}) {}

/** Where a run starts: from the beginning, from a checkpoint's position, or nowhere (a replay already read to its end). */
export type Recovery =
  | { readonly _tag: "Start"; readonly from: SourcePosition | undefined }
  | { readonly _tag: "AlreadyFinished" }

const start = (from: SourcePosition | undefined): Recovery => ({ _tag: "Start", from })
const ALREADY_FINISHED: Recovery = { _tag: "AlreadyFinished" }

/** Errors and rejections are handed to their stores in slices this big, so memory stays flat within an epoch. */
const BUFFER_LINES = 4096

export const makeEpochs = Effect.fnUntraced(function*(analysis: Analysis, settings: CheckpointSettings) {
  const source = yield* LineSource
  const errors = yield* ErrorStore
  const windows = yield* WindowStore
  const rejected = yield* RejectedStore
  const alerts = yield* AlertPublisher
  const checkpoints = yield* CheckpointStore

  /** What the running epoch produced so far; the analysis writes into it. */
  const out = new AnalysisOutput()
  let epoch = 0
  let position: SourcePosition = {}
  let dirty = false
  /** The rest of `recover`, run before the run's first write. */
  let finishRecovery: Effect.Effect<void, StoreError | AlertError> = Effect.void
  const beforeWriting = Effect.suspend(() => {
    const rest = finishRecovery
    finishRecovery = Effect.void
    return rest
  })

  const recover = Effect.gen(function*() {
    const saved = yield* checkpoints.load
    if (Option.isNone(saved)) return start(undefined)
    const checkpoint = saved.value
    const differences = settingsDifferences(checkpoint.settings, settings)
    if (differences.length > 0) {
      return yield* new CheckpointMismatch({
        message: `the checkpoint in ${checkpoints.description} was made with other settings: ${differences.join("; ")}. ` +
          `Run again with --clean to start over, or choose another --output folder (and --checkpoint folder).`
      })
    }
    if (checkpoint.finished && !source.live) {
      if (source.checkEnded !== undefined) yield* source.checkEnded(checkpoint.position)
      yield* Console.error(
        `loglens: ${source.description} was already analysed to its end (checkpoint ${checkpoints.description}); ` +
          `nothing to do. Use --clean to analyse it again.`
      )
      return ALREADY_FINISHED
    }
    epoch = checkpoint.epoch
    position = checkpoint.position
    analysis.restore(checkpoint.analysis)
    const discardLeftovers = Effect.all(
      [errors.discardAfter(epoch), windows.discardAfter(epoch), rejected.discardAfter(epoch)],
      { discard: true }
    )
    const republishAlerts = alerts.recover(epoch, checkpoint.alerts, checkpoint.position)
    finishRecovery = Effect.andThen(discardLeftovers, republishAlerts)
    // Live input has nothing to check first, and its alerts must not wait for its next line.
    if (source.live) yield* beforeWriting
    yield* Console.error(
      `loglens: resuming from checkpoint epoch ${epoch} (${analysis.openWindowCount} open windows, ` +
        `${analysis.counters.lines.toLocaleString("en-US")} lines already read)`
    )
    return start(checkpoint.position)
  })

  /** Hands buffered errors and rejections to their stores, hidden until the epoch's seal. */
  const bufferNow = Effect.gen(function*() {
    yield* beforeWriting
    yield* errors.append(epoch + 1, out.errors)
    yield* rejected.append(epoch + 1, out.rejected.map((r) => JSON.stringify(r)))
    out.errors.length = 0
    out.rejected.length = 0
  })

  const sealStores = (sealing: number) =>
    Effect.gen(function*() {
      yield* bufferNow
      yield* windows.append(sealing, out.closed.map((row) => JSON.stringify(row)))
      // The three stores are independent: their fsyncs overlap, which keeps alert latency low.
      yield* Effect.all([errors.seal(sealing), windows.seal(sealing), rejected.seal(sealing)], {
        concurrency: "unbounded",
        discard: true
      })
    })

  const saveCheckpoint = (sealed: number, finished: boolean) =>
    checkpoints.save({
      settings,
      epoch: sealed,
      position,
      alerts: [...out.alerts],
      finished,
      changes: analysis.takeChanges(),
      snapshot: () => analysis.snapshot()
    })

  const publishAlerts = (sealed: number) => alerts.publish(sealed, out.alerts, position)

  const acknowledgeSource = (sealed: number) => source.commit(position, sealed)

  const commitNow = (finished: boolean) =>
    Effect.gen(function*() {
      if (!dirty && out.isEmpty && !finished) return
      const sealing = epoch + 1
      yield* sealStores(sealing)
      yield* saveCheckpoint(sealing, finished)
      epoch = sealing
      yield* publishAlerts(sealing)
      yield* acknowledgeSource(sealing)
      out.clear()
      dirty = false
    })

  return {
    out,
    recover,
    /** The analysis consumed input up to `at`: the running epoch now ends there. */
    advance: (at: SourcePosition): void => {
      position = at
      dirty = true
    },
    /** Buffers now when enough lines wait, so an epoch never holds many in memory. */
    bufferIfFull: Effect.suspend(() =>
      out.errors.length + out.rejected.length >= BUFFER_LINES ? Effect.uninterruptible(bufferNow) : Effect.void
    ),
    /** Ends the running epoch; `finished`: every window is closed and the checkpoint says so. */
    commit: (finished: boolean) => Effect.uninterruptible(commitNow(finished)),
    get epoch(): number {
      return epoch
    }
  }
})

export type Epochs = Effect.Success<ReturnType<typeof makeEpochs>>
