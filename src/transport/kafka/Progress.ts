/**
 * What the Kafka source tells the analyzer about its partitions (see
 * `LineBatch.partitions`): which ones this process reads now, and whether each
 * has nothing unread, i.e. the next offset the stream will get has reached
 * the partition's end offset. A partition with unread records must never look
 * idle, and one that never had a message must be known too, so that it can
 * become idle instead of holding every window back.
 *
 * "Read" means handed to the stream: a batch counts once the analyzer's queue
 * took it, so a caught-up report never overtakes the lines it covers. End
 * offsets come from each fetched batch's high watermark and from a periodic
 * poll of the topic's end offsets (partitions that get no messages produce no
 * batches). A partition the stream got nothing from yet counts from the
 * group's committed offset, else from `--starting-offsets`.
 */
import type { PartitionProgress } from "../../domain/Analysis.ts"

/** How often the source asks the broker where its partitions end. */
export const END_OFFSET_POLL_MS = 1_000

export class KafkaProgress {
  private assigned: ReadonlyArray<number> = []
  /** Next offset after the last message queued for the analyzer, by partition. */
  private readonly queued = new Map<number, number>()
  /** Latest known end offset (high watermark), by partition. */
  private readonly ends = new Map<number, number>()
  /** Where partitions without a queued message start (committed offset or policy), from the last poll. */
  private readonly starts = new Map<number, number>()

  /** `from`: the positions the stream resumes at (the checkpoint's). */
  constructor(from: ReadonlyMap<number, number>) {
    for (const [partition, offset] of from) this.queued.set(partition, offset)
  }

  /** The group gave this process `partitions` (empty while a rebalance is under way). */
  assign(partitions: ReadonlyArray<number>): void {
    this.assigned = [...partitions].sort((a, b) => a - b)
    // A new generation starts unread partitions over at the committed offset or the policy's.
    this.starts.clear()
  }

  /** A batch ending before `nextOffset` was queued; the broker's end offset was `highWatermark` when it was fetched. */
  queuedThrough(partition: number, nextOffset: number, highWatermark: number): void {
    this.queued.set(partition, nextOffset)
    if (highWatermark > (this.ends.get(partition) ?? -1)) this.ends.set(partition, highWatermark)
  }

  /** The stream's position for `partition` was reset (offset out of range): it starts over per the policy. */
  forget(partition: number): void {
    this.queued.delete(partition)
  }

  /** Assigned partitions whose start the poll must look up (nothing queued from them yet). */
  get withoutPosition(): ReadonlyArray<number> {
    return this.assigned.filter((p) => !this.queued.has(p))
  }

  /**
   * The poll's answer: end offsets by partition, and for the partitions without a queued message,
   * where the consumer starts them.
   */
  polled(ends: ReadonlyMap<number, number>, starts: ReadonlyMap<number, number>): void {
    for (const [partition, end] of ends) this.ends.set(partition, end)
    // The first answer after an assignment is where the consumer started ("latest" moves on later).
    for (const [partition, start] of starts) if (!this.starts.has(partition)) this.starts.set(partition, start)
  }

  /** Whether the stream has been handed everything up to the partition's known end. */
  caughtUp(partition: number): boolean {
    return this.unread(partition) === 0
  }

  /** Records between the stream's position and the known end: the consumer lag (undefined while either is unknown). */
  unread(partition: number): number | undefined {
    const end = this.ends.get(partition)
    const at = this.queued.get(partition) ?? this.starts.get(partition)
    return end !== undefined && at !== undefined ? Math.max(0, end - at) : undefined
  }

  snapshot(): ReadonlyArray<PartitionProgress> {
    return this.assigned.map((partition) => {
      const unread = this.unread(partition)
      return unread === undefined
        ? { partition, caughtUp: false }
        : { partition, caughtUp: unread === 0, unread }
    })
  }
}
