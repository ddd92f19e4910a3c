/**
 * The file checkpoint store on a real folder: what `load` returns after a run
 * of commits equals an independent model (the last version of every cell,
 * minus the closed windows), through compactions, after a crash between the
 * cells line and checkpoint.json, and after a torn last line; and the next
 * commit after such a crash cuts the leftovers off.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { WindowCellJson } from "../../src/domain/Window.ts"
import { CheckpointStore, type CheckpointCommit } from "../../src/sinks/CheckpointStore.ts"

const settings = { source: "test", format: "json", window: "30000ms", watermark: "10000ms", threshold: 100 }

const cell = (window: number, status: number, count: number): WindowCellJson => ({
  start: window * 30_000,
  end: window * 30_000 + 30_000,
  status,
  count,
  alerted: count > 100,
  ips: { sparse: Array.from({ length: 30 }, (_, i) => (window * 1000 + status + i * 7) >>> 0) },
  urls: [`/resource/${window}`, `/resource/${status}`]
})

/** The model: cells by "start/status". */
class Model {
  readonly cells = new Map<string, WindowCellJson>()
  commit(epoch: number, changed: Array<WindowCellJson>, closedWindows: Array<number>): CheckpointCommit {
    for (const start of closedWindows) for (const key of [...this.cells.keys()]) if (key.startsWith(`${start}/`)) this.cells.delete(key)
    for (const c of changed) this.cells.set(`${c.start}/${c.status}`, c)
    const progress = { partitions: [{ partition: 0, maxEventTimeMs: epoch * 1000 }], closedThroughMs: null, counters: { lines: epoch, valid: epoch, errors: 0, rejected: 0, late: 0, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0 } }
    const all = [...this.cells.values()]
    return {
      settings,
      epoch,
      position: { bytes: epoch * 10 },
      alerts: [],
      finished: false,
      changes: { ...progress, cells: changed, closedWindows },
      snapshot: () => ({ ...progress, cells: all })
    }
  }
  sorted(): Array<WindowCellJson> {
    return [...this.cells.values()].sort((a, b) => a.start - b.start || a.status - b.status)
  }
}

const sortCells = (cells: ReadonlyArray<WindowCellJson>) => [...cells].sort((a, b) => a.start - b.start || a.status - b.status)

const withFolder = <A, E>(f: (folder: string) => Effect.Effect<A, E, never>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "loglens-checkpoint-"))),
    f,
    (folder) => Effect.sync(() => fs.rmSync(folder, { recursive: true, force: true }))
  )

const openStore = (folder: string) =>
  Effect.gen(function*() {
    return yield* CheckpointStore
  }).pipe(Effect.provide(CheckpointStore.layerFile(folder, path.join(folder, ".."))))

/** Commits 1..epochs: each epoch changes a few cells of the three newest windows and closes the oldest. */
const commitMany = (store: CheckpointStore["Service"], model: Model, from: number, epochs: number) =>
  Effect.gen(function*() {
    for (let epoch = from; epoch < from + epochs; epoch++) {
      const window = Math.floor(epoch / 3)
      const changed = [cell(window, 404, epoch), cell(window, 500, epoch), cell(window + 1, 503, epoch)]
      const closed = epoch % 3 === 0 && window > 2 ? [(window - 3) * 30_000] : []
      yield* store.save(model.commit(epoch, changed, closed))
    }
  })

describe("CheckpointStore.layerFile", () => {
  it.effect("load after many commits equals the model, through compactions", () =>
    withFolder((folder) =>
      Effect.gen(function*() {
        const model = new Model()
        // Many open cells first, so that the deltas stay small next to the first line.
        const first = Array.from({ length: 400 }, (_, i) => cell(1000 + i, 404, 1))
        const store = yield* openStore(folder)
        yield* store.save(model.commit(1, first, []))
        yield* commitMany(store, model, 2, 600)
        const names = fs.readdirSync(folder).filter((n) => n.startsWith("cells-"))
        assert.strictEqual(names.length, 1)
        assert.notStrictEqual(names[0], "cells-000000000001.jsonl", "600 epochs of changes must have compacted at least once")
        const loaded = Option.getOrThrow(yield* (yield* openStore(folder)).load)
        assert.strictEqual(loaded.epoch, 601)
        assert.deepStrictEqual(loaded.position, { bytes: 6010 })
        assert.deepStrictEqual(sortCells(loaded.analysis.cells), model.sorted())
      })
    ))

  it.effect("a crash between the cells line and checkpoint.json, and a torn last line, are left out and cut off", () =>
    withFolder((folder) =>
      Effect.gen(function*() {
        const model = new Model()
        const store = yield* openStore(folder)
        yield* store.save(model.commit(1, Array.from({ length: 50 }, (_, i) => cell(100 + i, 404, 1)), []))
        yield* commitMany(store, model, 2, 5)
        const expected = model.sorted()
        const cellsFile = path.join(folder, fs.readdirSync(folder).find((n) => n.startsWith("cells-"))!)
        // Epoch 7's cells line got out, its checkpoint.json did not; then a line torn mid-write.
        fs.appendFileSync(cellsFile, JSON.stringify({ epoch: 7, cells: [cell(1, 599, 9)], closedWindows: [] }) + "\n")
        fs.appendFileSync(cellsFile, "{\"epoch\":8,\"cells\":[{\"sta")

        const reopened = yield* openStore(folder)
        const loaded = Option.getOrThrow(yield* reopened.load)
        assert.strictEqual(loaded.epoch, 6)
        assert.deepStrictEqual(sortCells(loaded.analysis.cells), expected)

        // The next epoch 7 replaces the leftovers rather than following them.
        const again = new Model()
        for (const c of expected) again.cells.set(`${c.start}/${c.status}`, c)
        yield* commitMany(reopened, again, 7, 3)
        const text = fs.readFileSync(cellsFile, "utf8")
        assert.isTrue(text.endsWith("\n"))
        assert.notInclude(text, "\"sta\n")
        assert.notInclude(text, "\"status\":599")
        const last = Option.getOrThrow(yield* (yield* openStore(folder)).load)
        assert.strictEqual(last.epoch, 9)
        assert.deepStrictEqual(sortCells(last.analysis.cells), again.sorted())
      })
    ))
})
