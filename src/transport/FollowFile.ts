/**
 * Following a live log file, like `tail -F`: `FollowFileLineSource` reads a
 * file from its start (or from its checkpoint, or, with `--from-end`, from
 * its last whole line) and keeps reading as lines are appended.
 *
 * - A line is passed on once its newline is written: a line cut across two
 *   writes is joined, and a last line without its newline waits for it.
 * - Rotation by rename (logrotate `create`): once a new file at the path has
 *   its first bytes, the old one is read to its end, then the new one from
 *   its start.
 * - copytruncate: a file that shrank below the position, or whose first bytes
 *   changed, is read again from its new start, with a word on stderr.
 * - The position is `{ bytes, dev, ino, headLength, headHash }`: the offset
 *   just after the last whole line passed on, in the file with that device
 *   and inode whose first `headLength` bytes hash to `headHash`. A restart
 *   finds that file again, at the path or renamed beside it, and resumes
 *   exactly; when it is gone it says so and reads the file at the path from
 *   its start.
 *
 * Changes are noticed through `fs.watch` on the file's folder and by polling,
 * because watches miss events on some file systems and across renames.
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import type { RejectedLine } from "../domain/RejectedLine.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import { describeIoError } from "../io/IoError.ts"
import { LineSplitter } from "./LineSplitter.ts"
import { type LineBatch, LineSource, SourceError } from "./LineSource.ts"

const READ_SIZE = 1 << 20
/** How many of a file's first bytes identify it, besides its device and inode. */
export const HEAD_BYTES = 1024
/** How often the file is looked at when no watch event came. */
const POLL = Duration.millis(250)

export interface FollowOptions {
  readonly file: string
  readonly maxLineBytes: number
  /** On a first run (no checkpoint), start after the file's last whole line instead of at its start. */
  readonly fromEnd: boolean
  /** Off: polling alone notices changes (tests check that the fallback works by itself). Default on. */
  readonly watch?: boolean
}

export const FollowFileLineSource = {
  layer: (options: FollowOptions) => {
    const absolute = path.resolve(options.file)
    return Layer.succeed(LineSource, {
      description: `file:${options.file} (following)`,
      identity: `follow:${absolute}`,
      live: true,
      batches: (from) => Stream.unwrap(follow(absolute, options, from)),
      commit: () => Effect.void
    })
  }
}

/** The checkpointed part of a followed file: where, and in which file. */
interface Place {
  readonly bytes: number
  readonly dev: number
  readonly ino: number
  readonly headLength: number
  readonly headHash: number
}

const placeOf = (from: SourcePosition | undefined): Place | undefined => {
  if (from === undefined) return undefined
  const { bytes, dev, ino, headLength, headHash } = from
  const whole = (n: number | undefined): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0
  return whole(bytes) && whole(dev) && whole(ino) && whole(headLength) && whole(headHash)
    ? { bytes, dev, ino, headLength, headHash }
    : undefined
}

/** A watch on `folder`, or undefined when there can be none (folder missing, inotify limit): polling alone then. */
const watchFolder = (folder: string, onChange: (name: string | null) => void): fs.FSWatcher | undefined => {
  try {
    const watcher = fs.watch(folder, { persistent: false }, (_event, name) => onChange(name === null ? null : String(name)))
    watcher.on("error", () => watcher.close())
    return watcher
  } catch {
    return undefined
  }
}

/** A 48-bit hash of bytes (SHA-256, truncated to fit a JSON number exactly). */
const hashHead = (bytes: Uint8Array): number => createHash("sha256").update(bytes).digest().readUIntBE(0, 6)

/** The hash of a file's first `length` bytes (fewer if it is shorter). */
const readHeadHash = async (handle: fsp.FileHandle, length: number): Promise<number> => {
  const head = Buffer.alloc(length)
  const { bytesRead } = await handle.read(head, 0, length, 0)
  return hashHead(head.subarray(0, bytesRead))
}

/** `undefined` for a file that is not there; other failures stay failures. */
const unlessMissing = <A>(promise: Promise<A>): Promise<A | undefined> =>
  promise.catch((e) => ((e as { code?: string }).code === "ENOENT" ? undefined : Promise.reject(e)))

const follow = Effect.fnUntraced(function*(file: string, options: FollowOptions, from: SourcePosition | undefined) {
  const shown = options.file
  const say = (message: string) => Console.error(`loglens: ${message}`)
  const fail = (what: string, cause: unknown) =>
    new SourceError({ message: `cannot ${what} ${shown}: ${describeIoError(cause)}`, cause })
  const io = <A>(what: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: (cause) => fail(what, cause) })
  /** The file at `name`, or undefined when there is none. */
  const statIfAny = (name: string) => io("look at", () => unlessMissing(fsp.stat(name)))
  const headHashOf = (handle: fsp.FileHandle, length: number) => io("read", () => readHeadHash(handle, length))

  // -- the file being read ----------------------------------------------------
  let handle: fsp.FileHandle | undefined
  let dev = 0
  let ino = 0
  let base = 0 // offset where the splitter started
  let readAt = 0 // next byte to read
  let splitter = new LineSplitter(options.maxLineBytes, true)
  let headLength = 0
  let headHash = hashHead(new Uint8Array(0))
  // A new file has the path: read this one to its end, then move on (`rotationSaid`: stderr knows).
  let leaving = false
  let rotationSaid = false
  let firstOpen = true

  const closeCurrent = Effect.promise(async () => {
    const closing = handle
    handle = undefined
    await closing?.close().catch(() => undefined)
  })
  yield* Effect.addFinalizer(() => closeCurrent)

  const startAt = Effect.fnUntraced(function*(opened: fsp.FileHandle, offset: number) {
    const stat = yield* io("look at", () => opened.stat())
    handle = opened
    dev = stat.dev
    ino = stat.ino
    base = offset
    readAt = offset
    splitter = new LineSplitter(options.maxLineBytes, offset === 0)
    leaving = false
    rotationSaid = false
    headLength = Math.min(HEAD_BYTES, offset)
    headHash = yield* headHashOf(opened, headLength)
  })
  const position = (): SourcePosition => ({ bytes: base + splitter.consumedBytes, dev, ino, headLength, headHash })
  /** The identity grows with the file until it covers `HEAD_BYTES`, never past the lines passed on. */
  const extendHead = Effect.fnUntraced(function*() {
    const wanted = Math.min(HEAD_BYTES, base + splitter.consumedBytes)
    if (wanted <= headLength) return
    headHash = yield* headHashOf(handle!, wanted)
    headLength = wanted
  })

  // -- waking up: a watch event on the folder, or the poll ----------------------
  let signalled = false
  let waiter: (() => void) | undefined
  const watchedNames = () => new Set([path.basename(file)])
  let names = watchedNames()
  const watcher = options.watch === false ? undefined : watchFolder(path.dirname(file), (name) => {
    if (name !== null && !names.has(name)) return
    signalled = true
    waiter?.()
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => watcher?.close()))
  const nextChange = Effect.race(
    Effect.callback<void>((resume) => {
      if (signalled) return resume(Effect.void)
      waiter = () => resume(Effect.void)
      return Effect.sync(() => void (waiter = undefined))
    }),
    Effect.sleep(POLL)
  ).pipe(Effect.ensuring(Effect.sync(() => void (waiter = undefined))))

  // -- opening ------------------------------------------------------------------
  /** The file at the path, opened; waits for one to appear. */
  const openAtPath = Effect.fnUntraced(function*() {
    let waiting = false
    for (;;) {
      signalled = false
      const opened = yield* io("open", () => unlessMissing(fsp.open(file, "r")))
      if (opened !== undefined) return opened
      if (!waiting) yield* say(`${shown} does not exist (yet); waiting for it to appear`)
      waiting = true
      yield* nextChange
    }
  })

  /** Where a first run starts with --from-end: after the last newline (so a line being written is read whole). */
  const lastLineStart = Effect.fnUntraced(function*(opened: fsp.FileHandle) {
    const { size } = yield* io("look at", () => opened.stat())
    const block = Buffer.alloc(64 * 1024)
    let end = size
    while (end > 0 && size - end <= options.maxLineBytes) {
      const start = Math.max(0, end - block.length)
      const { bytesRead } = yield* io("read", () => opened.read(block, 0, end - start, start))
      const newline = block.subarray(0, bytesRead).lastIndexOf(10)
      if (newline >= 0) return start + newline + 1
      end = start
    }
    return end === 0 ? 0 : size
  })

  /** Finds the checkpoint's file again, at the path or renamed beside it, and opens it where it was. */
  const resume = Effect.fnUntraced(function*(place: Place) {
    const bytes = place.bytes.toLocaleString("en-US")
    const matches = Effect.fnUntraced(function*(opened: fsp.FileHandle, sameInode: boolean) {
      const { size } = yield* io("look at", () => opened.stat())
      if (size < place.bytes || size < place.headLength) return false
      if ((yield* headHashOf(opened, place.headLength)) !== place.headHash) return false
      // Without the same inode, only a full head is trusted (a device number can change after a reboot).
      return sameInode || place.headLength === HEAD_BYTES
    })
    const atPath = yield* statIfAny(file)
    if (atPath !== undefined) {
      const sameInode = atPath.dev === place.dev && atPath.ino === place.ino
      const opened = yield* openAtPath()
      if (yield* matches(opened, sameInode)) {
        if (!sameInode) yield* say(`${shown} has a new device or inode number but the same first bytes; resuming at byte ${bytes}`)
        return yield* startAt(opened, place.bytes)
      }
      if (sameInode) {
        yield* say(`${shown} was truncated or rewritten while loglens was stopped (it no longer matches the checkpoint at byte ${bytes}); reading it from its start`)
        return yield* startAt(opened, 0)
      }
      yield* Effect.promise(() => opened.close().catch(() => undefined))
    }
    const renamed = yield* findRenamed(place)
    if (renamed !== undefined) {
      yield* say(`${shown} was rotated while loglens was stopped: reading the rest of ${renamed} from byte ${bytes}, then the new ${shown} from its start`)
      const opened = yield* io("open", () => fsp.open(renamed, "r"))
      names = new Set([...watchedNames(), path.basename(renamed)])
      yield* startAt(opened, place.bytes)
      // Left, as at any rotation, once the new file has bytes: the server may not have reopened yet.
      rotationSaid = true
      return
    }
    yield* say(
      `${shown} is not the file the checkpoint was reading (device ${place.dev}, inode ${place.ino}), and that file is not ` +
        `beside it any more: reading the new ${shown} from its start. Lines added to the old file after byte ${bytes} are not read.`
    )
    yield* startAt(yield* openAtPath(), 0)
  })

  /** A file in the path's folder with the checkpoint's device, inode and first bytes (logrotate renames in place). */
  const findRenamed = (place: Place) =>
    io("look beside", async () => {
      const folder = path.dirname(file)
      const entries = await fsp.readdir(folder).catch(() => [] as Array<string>)
      for (const entry of entries) {
        const candidate = path.join(folder, entry)
        const stat = await fsp.stat(candidate).catch(() => undefined)
        if (stat === undefined || !stat.isFile() || stat.dev !== place.dev || stat.ino !== place.ino) continue
        if (stat.size < place.bytes) return undefined
        const opened = await fsp.open(candidate, "r")
        try {
          return (await readHeadHash(opened, place.headLength)) === place.headHash ? candidate : undefined
        } finally {
          await opened.close()
        }
      }
      return undefined
    })

  /** Opens the file to read next, and returns the empty batch that says the source is reading. */
  const open = Effect.fnUntraced(function*() {
    const place = firstOpen ? placeOf(from) : undefined
    if (firstOpen && from !== undefined && place === undefined) {
      yield* say(`the checkpoint's position ${JSON.stringify(from)} does not name a followed file; reading ${shown} from its start`)
    }
    if (place !== undefined) {
      yield* resume(place)
    } else {
      const opened = yield* openAtPath()
      yield* startAt(opened, firstOpen && from === undefined && options.fromEnd ? yield* lastLineStart(opened) : 0)
    }
    firstOpen = false
    return { lines: [], rejected: [], position: position() } satisfies LineBatch
  })

  // -- at the end of what is written: truncation, rotation, or wait ---------------
  /**
   * Whether the file shrank below what was read, or its first bytes changed (truncated and written
   * again, maybe past the old position already): then it is read again from its start.
   */
  const restartIfTruncated = Effect.fnUntraced(function*() {
    const { size } = yield* io("look at", () => handle!.stat())
    const shrank = size < readAt
    if (!shrank && (headLength === 0 || (yield* headHashOf(handle!, headLength)) === headHash)) return false
    yield* say(
      shrank
        ? `${shown} shrank from ${readAt.toLocaleString("en-US")} to ${size.toLocaleString("en-US")} bytes (truncated, as by logrotate copytruncate): reading on from its new start`
        : `${shown} was truncated and rewritten (its first bytes changed): reading on from its new start`
    )
    yield* startAt(handle!, 0)
    return true
  })
  /** Whether a new file with bytes in it has taken the path: then this one is read to its end and left. */
  const noticeRotation = Effect.fnUntraced(function*() {
    const atPath = yield* statIfAny(file)
    if (atPath === undefined || (atPath.dev === dev && atPath.ino === ino) || atPath.size === 0) return false
    if (!rotationSaid) yield* say(`${shown} was rotated: reading the old file to its end, then the new ${shown} from its start`)
    leaving = true
    return true
  })

  let buffer = Buffer.allocUnsafe(READ_SIZE)
  const next: Effect.Effect<LineBatch, SourceError> = Effect.gen(function*() {
    if (handle === undefined) return yield* open()
    const lines: Array<string | Uint8Array> = []
    const rejected: Array<RejectedLine> = []
    // A short read reached what is written so far: nothing unread (for the idle rule).
    let caughtUp = true
    for (;;) {
      signalled = false
      const current = handle
      const { bytesRead } = yield* io("read", () => current.read(buffer, 0, READ_SIZE, readAt))
      if (bytesRead > 0) {
        readAt += bytesRead
        caughtUp = bytesRead < READ_SIZE
        // The splitter keeps views of the chunk: a big read keeps the buffer, a small one is copied out.
        let chunk: Buffer
        if (bytesRead >= READ_SIZE / 2) {
          chunk = buffer.subarray(0, bytesRead)
          buffer = Buffer.allocUnsafe(READ_SIZE)
        } else {
          chunk = Buffer.from(buffer.subarray(0, bytesRead))
        }
        splitter.push(chunk, lines, rejected)
        if (lines.length > 0 || rejected.length > 0) break
        continue
      }
      if (leaving) {
        // The old file is done: its last line counts even without a newline, as at the end of a replay.
        splitter.end(lines, rejected)
        const done = { lines, rejected, position: position() }
        yield* closeCurrent
        names = watchedNames()
        if (lines.length > 0 || rejected.length > 0) return done
        return yield* open()
      }
      if (yield* noticeRotation()) continue
      yield* nextChange
      // Before reading on: a file truncated (and maybe refilled) while we waited is read from its start.
      yield* restartIfTruncated()
    }
    yield* extendHead()
    return { lines, rejected, position: position(), caughtUp }
  })
  return Stream.fromEffectRepeat(next)
})
