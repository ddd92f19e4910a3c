/**
 * kafkajs 2.2.4's read_committed filter against the Java client's rule, and
 * proof that loglens's fix is the one kafkajs's batches use. The case is
 * production mode's internal topic after a kill -9: the transactions of two
 * producers (two input partitions) open at once, both aborted, and a fetch
 * that starts past both first offsets.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import { createRequire, Module } from "node:module"

const require = createRequire(import.meta.url)

const message = (offset: number, producerId: number, extra: Record<string, unknown> = {}) => ({
  offset: String(offset),
  key: null,
  batchContext: { producerId: String(producerId), inTransaction: true },
  ...extra
})
const abortMarker = (offset: number, producerId: number) =>
  message(offset, producerId, { key: Buffer.from([0, 0, 0, 0]), isControlRecord: true })

// Producers 1 and 2 both aborted (first offsets 100 and 101); producer 3 committed. The fetch starts at 102.
const aborted = [{ producerId: "1", firstOffset: "100" }, { producerId: "2", firstOffset: "101" }]
const fetched = [message(102, 2), message(103, 1), message(104, 3), abortMarker(105, 2), message(106, 2), abortMarker(107, 1)]
const committed = ["104/3", "105/2", "106/2", "107/1"] // the markers are dropped by kafkajs afterwards
const offsets = (ms: ReadonlyArray<ReturnType<typeof message>>) => ms.map((m) => `${m.offset}/${m.batchContext.producerId}`)

describe("read_committed: messages of aborted transactions", () => {
  it("kafkajs 2.2.4's own filter lets one of them through (the bug)", () => {
    const file = require.resolve("kafkajs/src/consumer/filterAbortedMessages.js")
    const original = new Module(file) as Module & { _compile: (code: string, file: string) => void }
    original.filename = file
    original._compile(fs.readFileSync(file, "utf8"), file)
    const filter = original.exports as (input: object) => Array<ReturnType<typeof message>>
    expect(offsets(filter({ messages: fetched, abortedTransactions: aborted }))).toEqual(["102/2", ...committed])
  })

  it("kafkajs's batches use loglens's filter, which drops every one of them", () => {
    const Batch = require("kafkajs/src/consumer/batch.js") as new(topic: string, fetchedOffset: string, data: object) => {
      messages: Array<ReturnType<typeof message>>
    }
    const batch = new Batch("t", "102", { partition: 0, highWatermark: "200", abortedTransactions: aborted, messages: fetched })
    expect(offsets(batch.messages)).toEqual(["104/3", "106/2"])
  })
})
