/**
 * The scoped admin client's end, on a stand-in for kafkajs's admin that keeps
 * kafkajs's order of events: a connect under way (kafkajs retries it through an
 * outage) opens its connection when it succeeds, even if `disconnect` was
 * called meanwhile. Such a connection kept the generator's process alive after
 * a broker outage; the real broker case is `test/kafka/Production.test.ts`.
 */
import * as Effect from "effect/Effect"
import type { Kafka } from "kafkajs"
import { describe, expect, it } from "vitest"
import { scopedAdmin } from "../../../src/transport/kafka/Admin.ts"

/** An admin whose connect succeeds when `finishConnect` is called; `open` is whether a connection is open. */
const standIn = () => {
  let finishConnect = () => {}
  const state = { open: false, disconnects: 0 }
  const admin = {
    connect: () =>
      new Promise<void>((resolve) => {
        finishConnect = () => {
          state.open = true
          resolve()
        }
      }),
    disconnect: async () => {
      state.disconnects++
      state.open = false
    },
    listTopics: async () => ["logs"]
  }
  const kafka = { admin: () => admin } as unknown as Kafka
  return { kafka, state, finishConnect: () => finishConnect() }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10))

describe("scopedAdmin", () => {
  it("closes a connection whose connect was still under way when its scope ended", async () => {
    const { finishConnect, kafka, state } = standIn()
    let listed: Promise<ReadonlyArray<string>> | undefined
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const client = yield* scopedAdmin(kafka)
      // A check that its fiber's interruption leaves running, as `failWhenTopicGone`'s does.
      listed = client.use((admin) => admin.listTopics())
    })))
    // The broker answers after the scope has ended.
    finishConnect()
    await listed
    await tick()
    expect(state.open).toBe(false)
    expect(state.disconnects).toBe(1)
  })

  it("disconnects a connected admin with its scope, and never connects one that was not used", async () => {
    const used = standIn()
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const client = yield* scopedAdmin(used.kafka)
      const listing = client.use((admin) => admin.listTopics())
      used.finishConnect()
      expect(yield* Effect.promise(() => listing)).toEqual(["logs"])
      expect(used.state.open).toBe(true)
    })))
    expect(used.state.open).toBe(false)
    expect(used.state.disconnects).toBe(1)

    const unused = standIn()
    await Effect.runPromise(Effect.scoped(Effect.asVoid(scopedAdmin(unused.kafka))))
    expect(unused.state.disconnects).toBe(0)
  })
})
