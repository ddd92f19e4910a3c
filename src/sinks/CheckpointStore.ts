/**
 * The analyzer's checkpoint: everything needed to resume as if it had never
 * stopped. It belongs to one output folder, records which (relative to its
 * own folder, so moving both together keeps them together), and refuses to
 * be applied to another. It is versioned, decoded through a Schema before
 * anything acts on it, and records the settings that shape results, so a
 * restart with different settings refuses to mix old state with new.
 *
 * On disk, in its folder, two files, so that a commit costs what changed
 * rather than what is open:
 *
 *   checkpoint.json          epoch, source position, settings, counters and
 *                            watermark: small, replaced atomically each epoch
 *   cells-<epoch>.jsonl      the open (window, status) cells: a first line
 *                            with every cell at that epoch, then one appended
 *                            line per later epoch with the cells that changed
 *                            and the windows that closed
 *
 * Each epoch appends (and fsyncs) its cells line first, then replaces
 * checkpoint.json, which names its cells file and is the commit point: cells
 * lines of epochs after it are a crash's leftovers, ignored and cut off. When
 * the appended lines outgrow the first line, the next epoch starts a new
 * cells file with every cell (compaction), and the old file is removed once
 * checkpoint.json names the new one. So each commit writes at most about
 * twice what changed, amortised.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Alert } from "../domain/Alert.ts"
import { applyChanges, AnalysisChanges, AnalysisProgress, AnalysisSnapshot } from "../domain/Analysis.ts"
import { SourcePosition } from "../domain/SourcePosition.ts"
import { WindowCellJson } from "../domain/Window.ts"
import { makeFolder } from "../io/Folder.ts"
import { describeIoError } from "../io/IoError.ts"
import { writeFileAtomic } from "./PartFolder.ts"

export const CHECKPOINT_VERSION = 2

/** The settings a checkpoint is only valid for; `settingsDifferences` names the flag that sets each. */
export const CheckpointSettings = Schema.Struct({
  source: Schema.String,
  format: Schema.String,
  window: Schema.String,
  watermark: Schema.String,
  threshold: Schema.Int
})
export type CheckpointSettings = typeof CheckpointSettings.Type

const Epoch = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What each epoch's checkpoint records whole. */
const epochFields = {
  version: Schema.Literal(CHECKPOINT_VERSION),
  settings: CheckpointSettings,
  /** The last epoch whose outputs are all durable. */
  epoch: Epoch,
  position: SourcePosition,
  /** The alerts of `epoch`, kept until the next checkpoint in case publishing was cut short. */
  alerts: Schema.Array(Alert),
  /** True once every window is closed: a replay read to its end, or live input stopped. */
  finished: Schema.Boolean
}

export const Checkpoint = Schema.Struct({ ...epochFields, analysis: AnalysisSnapshot })
export type Checkpoint = typeof Checkpoint.Type

/** `checkpoint.json`. */
const CheckpointFile = Schema.Struct({
  ...epochFields,
  /** The output folder it belongs to, relative to the checkpoint folder. */
  output: Schema.String,
  /** Names `cells-<cellsFrom>.jsonl`. */
  cellsFrom: Epoch,
  analysis: AnalysisProgress
})

/** One line of a cells file. */
const CellsLine = Schema.Struct({
  epoch: Epoch,
  cells: Schema.Array(WindowCellJson),
  closedWindows: Schema.Array(Schema.Int)
})

/** One epoch's checkpoint as the analyzer hands it over. */
export interface CheckpointCommit {
  readonly settings: CheckpointSettings
  readonly epoch: number
  readonly position: SourcePosition
  readonly alerts: ReadonlyArray<Alert>
  readonly finished: boolean
  /** What changed in the analysis since the previous commit (or the restore). */
  readonly changes: AnalysisChanges
  /** The whole analysis state, for a store that rewrites it; read it at once, it is live. */
  readonly snapshot: () => AnalysisSnapshot
}

/** The checkpoint after `commit`, given the one before it (undefined: the first of this run). */
export const applyCommit = (previous: Checkpoint | undefined, commit: CheckpointCommit): Checkpoint => ({
  version: CHECKPOINT_VERSION,
  settings: commit.settings,
  epoch: commit.epoch,
  position: commit.position,
  alerts: commit.alerts,
  finished: commit.finished,
  analysis: previous === undefined ? commit.snapshot() : applyChanges(previous.analysis, commit.changes)
})

export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export class CheckpointStore extends Context.Service<CheckpointStore, {
  readonly description: string
  /** The last checkpoint, decoded and checked; none in a fresh folder. */
  readonly load: Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
  readonly save: (commit: CheckpointCommit) => Effect.Effect<void, CheckpointError>
}>()("loglens/sinks/CheckpointStore") {
  /** `folder` holds the checkpoint of the results in `output`. */
  static readonly layerFile = (folder: string, output: string) =>
    Layer.effect(
      CheckpointStore,
      Effect.tryPromise({
        try: () => makeFolder(folder),
        catch: (cause) =>
          new CheckpointError({ message: `could not create the checkpoint folder ${folder}: ${describeIoError(cause)}`, cause })
      }).pipe(Effect.as(fileStore(folder, output)))
    )

  /** Tests: keeps the checkpoint in `cell.current`; `beforeSave` sees each new one first (throw to fail the save). */
  static readonly layerMemory = (
    cell: { current: Checkpoint | undefined } = { current: undefined },
    beforeSave: (checkpoint: Checkpoint) => void = () => {}
  ) =>
    Layer.succeed(CheckpointStore, {
      description: "memory",
      load: Effect.sync(() => Option.fromNullishOr(structuredClone(cell.current))),
      save: (commit) =>
        Effect.sync(() => {
          const next = applyCommit(cell.current, commit)
          beforeSave(next)
          cell.current = structuredClone(next)
        })
    })
}

/** The cells file may grow to this, or to its first line's size if larger, before the next commit compacts it. */
const COMPACT_AFTER_BYTES = 256 * 1024

const HEADER = "checkpoint.json"
const cellsName = (epoch: number): string => `cells-${String(epoch).padStart(12, "0")}.jsonl`
const CELLS_PATTERN = /^cells-\d{12}\.jsonl$/

/** Every file a checkpoint folder may hold that loglens wrote, for `--clean`. */
export const isCheckpointFile = (name: string): boolean =>
  name === HEADER || CELLS_PATTERN.test(name) || name === `.${HEADER}.tmp` || /^\.cells-\d{12}\.jsonl\.tmp$/.test(name)

const fileStore = (folder: string, output: string) => {
  const header = path.join(folder, HEADER)
  const ownOutput = path.relative(path.resolve(folder), path.resolve(output)) || "."
  // The cells file of the last checkpoint, its size up to that checkpoint's line, and its first line's size.
  let cells: { readonly from: number; bytes: number; readonly baseBytes: number } | undefined

  const fail = (message: string, cause?: unknown) => new CheckpointError({ message, cause })
  const wrap = (action: string) => (cause: unknown) =>
    cause instanceof CheckpointError ? cause : fail(`could not ${action} the checkpoint in ${folder}: ${describeIoError(cause)}`, cause)

  const load = Effect.tryPromise({
    try: async (): Promise<Option.Option<Checkpoint>> => {
      const bytes = await readIfExists(header)
      if (bytes === undefined) return Option.none()
      const file = decodeHeader(bytes.toString("utf8"), header)
      const saved = path.resolve(folder, file.output)
      if (saved !== path.resolve(output)) {
        throw fail(
          `the checkpoint ${header} belongs to the output folder ${saved}, not to ${path.resolve(output)}: a checkpoint ` +
            `is never applied to another output. Use --output ${saved} to continue that run, or give this output a ` +
            `checkpoint folder of its own (the default, --checkpoint <output>/checkpoint, is one).`
        )
      }
      const cellsFile = path.join(folder, cellsName(file.cellsFrom))
      const cellsBytes = await readIfExists(cellsFile)
      if (cellsBytes === undefined) throw fail(`the checkpoint ${header} names ${cellsFile}, which is missing. ${START_OVER}`)
      const read = readCells(cellsBytes, cellsFile, file.cellsFrom, file.epoch)
      cells = { from: file.cellsFrom, bytes: read.bytes, baseBytes: read.baseBytes }
      const { output: _, cellsFrom: __, analysis, ...rest } = file
      return Option.some({ ...rest, analysis: { ...analysis, cells: read.cells } })
    },
    catch: wrap("read")
  })

  const write = (file: string, text: string) =>
    writeFileAtomic(file, text).pipe(Effect.mapError((e) => fail(e.message, e)))
  const attempt = <A>(action: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: wrap(action) })

  const save = Effect.fnUntraced(function*(commit: CheckpointCommit) {
    const { changes, snapshot, ...epoch } = commit
    const line = JSON.stringify({ epoch: commit.epoch, cells: changes.cells, closedWindows: changes.closedWindows }) + "\n"
    const lineBytes = Buffer.byteLength(line)
    const previous = cells
    let from = commit.epoch
    if (previous === undefined || previous.bytes + lineBytes > Math.max(previous.baseBytes, COMPACT_AFTER_BYTES)) {
      // Compaction: a new cells file that starts with every open cell.
      const base = JSON.stringify({ epoch: commit.epoch, cells: snapshot().cells, closedWindows: [] }) + "\n"
      yield* write(path.join(folder, cellsName(commit.epoch)), base)
      const baseBytes = Buffer.byteLength(base)
      cells = { from: commit.epoch, bytes: baseBytes, baseBytes }
    } else {
      yield* attempt("write", () => appendDurably(path.join(folder, cellsName(previous.from)), previous.bytes, line))
      previous.bytes += lineBytes
      from = previous.from
    }
    const { maxEventTimeMs, closedThroughMs, counters } = changes
    yield* write(header, JSON.stringify({
      version: CHECKPOINT_VERSION,
      ...epoch,
      output: ownOutput,
      cellsFrom: from,
      analysis: { maxEventTimeMs, closedThroughMs, counters }
    }))
    if (previous !== undefined && previous.from !== from) {
      yield* attempt("clean up", () => fs.rm(path.join(folder, cellsName(previous.from)), { force: true }))
    }
  })

  return CheckpointStore.of({ description: header, load, save })
}

const START_OVER = "Start over with --clean (which empties the output folder and the checkpoint), or use another --checkpoint folder."

const readIfExists = async (file: string): Promise<Buffer | undefined> => {
  try {
    return await fs.readFile(file)
  } catch (cause) {
    if ((cause as { code?: string }).code === "ENOENT") return undefined
    throw cause
  }
}

/** A Schema failure as one line: what was expected, and where. */
const issueWords = (error: { readonly message: string }): string => error.message.replace(/\s*\n\s*/g, " ")

const decodeHeader = (text: string, file: string) => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new CheckpointError({
      message: `the checkpoint ${file} is not valid JSON: it was not written by loglens, or was cut short or edited. ${START_OVER}`,
      cause
    })
  }
  const version = typeof value === "object" && value !== null ? (value as { version?: unknown }).version : undefined
  if (typeof version !== "number") {
    throw new CheckpointError({
      message: `the checkpoint ${file} is not a loglens checkpoint (it has no format version). ${START_OVER}`
    })
  }
  if (version !== CHECKPOINT_VERSION) {
    throw new CheckpointError({
      message: `the checkpoint ${file} has format version ${version}, but this loglens reads version ` +
        `${CHECKPOINT_VERSION}${version < CHECKPOINT_VERSION ? " (it was made by an older loglens)" : ""}. ${START_OVER}`
    })
  }
  const decoded = Schema.decodeUnknownResult(CheckpointFile)(value)
  if (Result.isFailure(decoded)) {
    throw new CheckpointError({
      message: `the checkpoint ${file} is damaged or was edited: ${issueWords(decoded.failure)}. Nothing was changed. ${START_OVER}`
    })
  }
  return decoded.success
}

const decodeCellsLine = Schema.decodeUnknownResult(Schema.fromJsonString(CellsLine))

/**
 * The open cells at `epoch`, from a cells file that starts at `from`. Lines of later epochs (a crash
 * between the cells line and checkpoint.json) and a torn last line are left out of `bytes`, the size
 * the file is cut back to before the next append.
 */
const readCells = (bytes: Buffer, file: string, from: number, epoch: number) => {
  const damaged = (lineNumber: number, what: string) =>
    new CheckpointError({
      message: `line ${lineNumber} of the checkpoint's ${file} ${what}. Nothing was changed. ${START_OVER}`
    })
  const empty = { maxEventTimeMs: null, closedThroughMs: null, counters: ZERO_COUNTERS }
  let state: AnalysisSnapshot | undefined
  let lastEpoch = -1
  let kept = 0
  let baseBytes = 0
  let start = 0
  for (let lineNumber = 1;; lineNumber++) {
    const end = bytes.indexOf(10, start)
    if (end < 0) break // the end, or a torn last line
    const decoded = decodeCellsLine(bytes.toString("utf8", start, end))
    if (Result.isFailure(decoded)) throw damaged(lineNumber, `is damaged or was edited: ${issueWords(decoded.failure)}`)
    const line = decoded.success
    if (state === undefined ? line.epoch !== from : line.epoch <= lastEpoch) throw damaged(lineNumber, "has its epochs out of order")
    if (line.epoch > epoch) break
    state = applyChanges(state ?? { ...empty, cells: [] }, { ...empty, ...line })
    lastEpoch = line.epoch
    start = end + 1
    kept = start
    if (baseBytes === 0) baseBytes = start
  }
  if (state === undefined || lastEpoch !== epoch) {
    throw new CheckpointError({
      message: `the checkpoint's ${file} stops before epoch ${epoch}, which checkpoint.json records. Nothing was changed. ${START_OVER}`
    })
  }
  return { cells: state.cells, bytes: kept, baseBytes }
}
const ZERO_COUNTERS = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0 }

/** Cuts `file` back to `size` (dropping a crash's leftovers), appends `text` and fsyncs. */
const appendDurably = async (file: string, size: number, text: string): Promise<void> => {
  const handle = await fs.open(file, "r+")
  try {
    await handle.truncate(size)
    await handle.write(text, size)
    await handle.datasync()
  } finally {
    await handle.close()
  }
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
