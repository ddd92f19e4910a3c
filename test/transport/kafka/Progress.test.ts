/**
 * What the Kafka source tells the analyzer about its partitions: a partition is caught up only
 * when the stream has been handed everything up to its known end offset, and its unread count
 * (the consumer lag on the dashboard and in /metrics) is that end minus the stream's position.
 */
import { describe, expect, it } from "vitest"
import { KafkaProgress } from "../../../src/transport/kafka/Progress.ts"

describe("KafkaProgress", () => {
  it("knows nothing of a partition before a poll or a batch tells where it starts and ends", () => {
    const progress = new KafkaProgress(new Map())
    progress.assign([1, 0])
    expect(progress.snapshot()).toEqual([{ partition: 0, caughtUp: false }, { partition: 1, caughtUp: false }])
    expect(progress.withoutPosition).toEqual([0, 1])
  })

  it("counts the records between the stream's position and the end offset as unread", () => {
    const progress = new KafkaProgress(new Map([[0, 40]]))
    progress.assign([0, 1, 2])
    // Partition 0 resumes at the checkpoint's 40; partitions 1 and 2 start where the poll says.
    progress.polled(new Map([[0, 100], [1, 7], [2, 0]]), new Map([[1, 3], [2, 0]]))
    expect(progress.snapshot()).toEqual([
      { partition: 0, caughtUp: false, unread: 60 },
      { partition: 1, caughtUp: false, unread: 4 },
      { partition: 2, caughtUp: true, unread: 0 }
    ])
    // A batch through offset 99 (next 100) fetched when the end was 120: 20 still unread.
    progress.queuedThrough(0, 100, 120)
    expect(progress.unread(0)).toBe(20)
    expect(progress.caughtUp(0)).toBe(false)
    progress.queuedThrough(0, 120, 120)
    expect(progress.caughtUp(0)).toBe(true)
    expect(progress.unread(0)).toBe(0)
  })

  it("never lowers a known end offset on an older batch's high watermark", () => {
    const progress = new KafkaProgress(new Map())
    progress.assign([0])
    progress.polled(new Map([[0, 50]]), new Map([[0, 0]]))
    progress.queuedThrough(0, 10, 30)
    expect(progress.unread(0)).toBe(40)
  })
})
