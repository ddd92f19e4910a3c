/**
 * The followed file source against real files in a temp folder: appends in
 * small writes, rotation by rename, copytruncate, --from-end, and restarts
 * from a position (same file, renamed file, different file, truncated file).
 * Every batch's position is checked to point just after a whole line.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { TestClock, TestConsole } from "effect/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { FollowFileLineSource, type FollowOptions } from "../../src/transport/FollowFile.ts"
import type { SourcePosition } from "../../src/domain/SourcePosition.ts"
import { type LineBatch, LineSource } from "../../src/transport/LineSource.ts"
import { textLines } from "../support/lines.ts"

/** A temp folder, removed when the test's scope closes, pass or fail. */
const tempFolder = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "loglens-follow-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** `access.log` holding `content`, in a temp folder of its own (see `tempFolder`). */
const logFile = (content: string) =>
  Effect.map(tempFolder, (dir) => {
    const file = path.join(dir, "access.log")
    fs.writeFileSync(file, content)
    return { dir, file }
  })

/** A test in real time whose stderr messages `messages` reads. */
const live = (name: string, test: () => Effect.Effect<void, unknown, Scope.Scope>) =>
  it.live(name, () => test().pipe(Effect.provide(TestConsole.layer)))

/** Follows `file` in a background fiber; `lines()` is everything read so far. */
const following = (file: string, options: Partial<FollowOptions> = {}, from?: SourcePosition) =>
  Effect.gen(function*() {
    const batches: Array<LineBatch> = []
    const source = yield* Effect.provide(
      Effect.gen(function*() {
        return yield* LineSource
      }),
      FollowFileLineSource.layer({ file, maxLineBytes: 1 << 20, fromEnd: false, ...options })
    )
    const fiber = yield* source.batches(from).pipe(
      Stream.runForEach((batch) => Effect.sync(() => void batches.push(batch))),
      Effect.forkScoped
    )
    return {
      batches,
      fiber,
      lines: () => batches.flatMap((b) => textLines(b.lines)),
      last: () => batches.at(-1)!.position
    }
  })

/** Waits, in real time, until `check` holds (at most 5 s). */
const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
    assert.fail(`timed out waiting for ${what}`)
  })

/** What a few more real milliseconds bring (to show that nothing came). */
const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const messages = Effect.map(TestConsole.errorLines, (lines) => lines.map(String))

/** Every non-empty batch ends just after a newline of `content`, or at its very end. */
const assertWholeLinePositions = (batches: ReadonlyArray<LineBatch>, content: string) => {
  const bytes = Buffer.from(content)
  for (const b of batches) {
    if (b.lines.length === 0 && b.rejected.length === 0) continue
    const at = b.position["bytes"]!
    assert.isTrue(at === bytes.length || bytes[at - 1] === 10, `position ${at} is not just after a line`)
  }
}

describe("FollowFileLineSource", () => {
  live("joins a line cut across writes, holds a last line until its newline, and keeps reading appends", () =>
    Effect.gen(function*() {
      const { file } = yield* logFile("one\ntw")
      const f = yield* following(file)
      yield* eventually("the first line", () => f.lines().length === 1)
      fs.appendFileSync(file, "o")
      yield* pause(400) // longer than the poll: a line without its newline is not passed on
      assert.deepStrictEqual(f.lines(), ["one"])
      assert.strictEqual(f.last()["bytes"], 4)
      fs.appendFileSync(file, "\nthree\nfo")
      fs.appendFileSync(file, "ur\n")
      yield* eventually("four lines", () => f.lines().length === 4)
      assert.deepStrictEqual(f.lines(), ["one", "two", "three", "four"])
      assertWholeLinePositions(f.batches, fs.readFileSync(file, "utf8"))
      assert.strictEqual(f.last()["bytes"], fs.statSync(file).size)
      const { dev, ino } = fs.statSync(file)
      assert.include(f.last(), { dev, ino, headLength: fs.statSync(file).size })
    }))

  live("reads a file rotated by rename to its end, then the new file at the path from its start", () =>
    Effect.gen(function*() {
      const { dir, file } = yield* logFile("old 1\nold 2\n")
      const f = yield* following(file)
      yield* eventually("the old lines", () => f.lines().length === 2)
      fs.renameSync(file, path.join(dir, "access.log.1"))
      fs.writeFileSync(file, "") // logrotate `create`: an empty file first
      // The writer has not reopened yet: it still appends to the renamed file.
      fs.appendFileSync(path.join(dir, "access.log.1"), "old 3\nold 4 without newline")
      yield* eventually("old 3", () => f.lines().length === 3)
      fs.appendFileSync(file, "new 1\nnew 2\n")
      yield* eventually("every line", () => f.lines().length === 6)
      // The old file's last line counts at its end, as a replay's would.
      assert.deepStrictEqual(f.lines(), ["old 1", "old 2", "old 3", "old 4 without newline", "new 1", "new 2"])
      assert.strictEqual(f.last()["ino"], fs.statSync(file).ino)
      assert.strictEqual(f.last()["bytes"], 12)
      assert.isTrue((yield* messages).some((m) => m.includes("access.log was rotated")))
    }))

  live("goes on from the new start of a file truncated in place (copytruncate), and says so", () =>
    Effect.gen(function*() {
      const { file } = yield* logFile("a 1\na 2\na 3\n")
      const f = yield* following(file)
      yield* eventually("three lines", () => f.lines().length === 3)
      fs.truncateSync(file, 0)
      fs.appendFileSync(file, "b 1\n")
      yield* eventually("the line after the truncation", () => f.lines().length === 4)
      assert.deepStrictEqual(f.lines(), ["a 1", "a 2", "a 3", "b 1"])
      assert.strictEqual(f.last()["bytes"], 4)
      assert.isTrue((yield* messages).some((m) => /access\.log shrank from 12 to \d+ bytes .*copytruncate.*new start/.test(m)))
    }))

  live("notices a truncation that the writer refilled past the old position before it looked", () =>
    Effect.gen(function*() {
      const { file } = yield* logFile("a 1\n")
      const f = yield* following(file, { watch: false })
      yield* eventually("one line", () => f.lines().length === 1)
      // Truncated and refilled before loglens looked: here written over in place, so it is never seen shorter.
      const fd = fs.openSync(file, "r+")
      fs.writeSync(fd, "b 1\nb 2\n", 0)
      fs.closeSync(fd)
      yield* eventually("the new lines", () => f.lines().length === 3)
      assert.deepStrictEqual(f.lines(), ["a 1", "b 1", "b 2"])
      assert.isTrue((yield* messages).some((m) => m.includes("truncated and rewritten")))
    }))

  live("--from-end starts after the last whole line of a first run, and reads a line being written whole", () =>
    Effect.gen(function*() {
      const { file } = yield* logFile("old 1\nold 2\nhalf")
      const f = yield* following(file, { fromEnd: true })
      yield* eventually("the ready batch", () => f.batches.length === 1)
      assert.strictEqual(f.last()["bytes"], 12)
      fs.appendFileSync(file, " line\nnew\n")
      yield* eventually("two lines", () => f.lines().length === 2)
      assert.deepStrictEqual(f.lines(), ["half line", "new"])
    }))

  live("waits for a file that does not exist yet, says so, and reads it from its start once it appears", () =>
    Effect.gen(function*() {
      const dir = yield* tempFolder
      const file = path.join(dir, "access.log")
      const f = yield* following(file)
      yield* pause(300) // longer than a poll
      assert.deepStrictEqual(f.batches, [])
      assert.isTrue((yield* messages).some((m) => m.includes("access.log does not exist (yet); waiting for it to appear")))
      fs.writeFileSync(file, "first\n")
      yield* eventually("its line", () => f.lines().length === 1)
      assert.deepStrictEqual(f.lines(), ["first"])
    }))

  it.effect("notices appends by polling alone, on the Clock, when no watch event comes", () =>
    Effect.gen(function*() {
      const { file } = yield* logFile("one\n")
      const f = yield* following(file, { watch: false })
      yield* eventually("the first line", () => f.lines().length === 1)
      fs.appendFileSync(file, "two\n")
      yield* pause(300) // real time passes, the test clock does not: no poll yet
      assert.deepStrictEqual(f.lines(), ["one"])
      yield* TestClock.adjust("250 millis")
      yield* eventually("the appended line", () => f.lines().length === 2)
    }))

  describe("restarting from a position", () => {
    /** Follows until `count` lines were read, and returns the last position, as a checkpoint would hold it. */
    const positionAfter = (file: string, count: number) =>
      Effect.scoped(Effect.gen(function*() {
        const f = yield* following(file)
        yield* eventually(`${count} lines`, () => f.lines().length === count)
        yield* Fiber.interrupt(f.fiber)
        return f.last()
      }))

    live("resumes at the position's byte in the same file", () =>
      Effect.gen(function*() {
        const { file } = yield* logFile("1\n2\n")
        const position = yield* positionAfter(file, 2)
        fs.appendFileSync(file, "3\n")
        const f = yield* following(file, {}, position)
        yield* eventually("line 3", () => f.lines().length === 1)
        yield* pause(100)
        assert.deepStrictEqual(f.lines(), ["3"])
        assert.deepStrictEqual(yield* messages, [])
      }))

    live("finishes the file renamed beside the path first, then reads the new one from its start", () =>
      Effect.gen(function*() {
        const { dir, file } = yield* logFile("old 1\n")
        const position = yield* positionAfter(file, 1)
        fs.appendFileSync(file, "old 2\n")
        fs.renameSync(file, path.join(dir, "access.log.1"))
        fs.writeFileSync(file, "")
        const f = yield* following(file, {}, position)
        yield* eventually("old 2", () => f.lines().length === 1)
        // Until the new file has bytes, the server may still write to the renamed one.
        fs.appendFileSync(path.join(dir, "access.log.1"), "old 3\n")
        yield* eventually("old 3", () => f.lines().length === 2)
        fs.appendFileSync(file, "new 1\n")
        yield* eventually("three lines", () => f.lines().length === 3)
        assert.deepStrictEqual(f.lines(), ["old 2", "old 3", "new 1"])
        assert.strictEqual(f.last()["ino"], fs.statSync(file).ino)
        assert.isTrue((yield* messages).some((m) => m.includes("rotated while loglens was stopped") && m.includes("access.log.1")))
      }))

    live("reads a different file at the path from its start, and says so", () =>
      Effect.gen(function*() {
        const dir = yield* tempFolder
        fs.mkdirSync(path.join(dir, "logs"))
        const file = path.join(dir, "logs", "access.log")
        fs.writeFileSync(file, "old 1\n")
        const position = yield* positionAfter(file, 1)
        // Moved out of the folder (still on disk, so its inode is not reused), and a new file put in its place.
        fs.renameSync(file, path.join(dir, "elsewhere.log"))
        fs.writeFileSync(file, "new 1\nnew 2\n")
        const f = yield* following(file, {}, position)
        yield* eventually("two lines", () => f.lines().length === 2)
        assert.deepStrictEqual(f.lines(), ["new 1", "new 2"])
        assert.isTrue((yield* messages).some((m) => m.includes("is not the file the checkpoint was reading")))
      }))

    live("reads a file truncated while stopped from its start, and says so", () =>
      Effect.gen(function*() {
        const { file } = yield* logFile("old 1\nold 2\n")
        const position = yield* positionAfter(file, 2)
        fs.truncateSync(file, 0)
        fs.appendFileSync(file, "new 1\n")
        const f = yield* following(file, {}, position)
        yield* eventually("one line", () => f.lines().length === 1)
        assert.deepStrictEqual(f.lines(), ["new 1"])
        assert.isTrue((yield* messages).some((m) => m.includes("truncated or rewritten while loglens was stopped")))
      }))
  })
})
