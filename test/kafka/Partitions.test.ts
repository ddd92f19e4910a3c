/**
 * Per-partition watermarks against a REAL broker (issue 11), through the REAL
 * CLI in production mode: the same backlog over 1, 3 and 6 partitions, read in
 * different interleavings, must give the independent per-partition reference's
 * results (test/analyzer/partitionReference.ts): errors/, windows/, rejected/,
 * the final report's counts and the alerts topic (read_committed). The
 * interleavings come from when the lines reach the topic:
 *
 * - the whole backlog is in the topic before the analyzer starts;
 * - the partitions are fed in turns, a small chunk each, while it runs;
 * - partition 0 gets only its first records, partition 1 half of its lines,
 *   until the others are read and committed; then the rest.
 *
 * --idle-timeout is long, so no partition is ever idle (a held-back partition
 * has a record, so it holds every window from its watermark on back), and
 * every partition ends with a record far enough ahead that the watermark
 * closes every window: then the rule says the results do not depend on the
 * interleaving (partitionReference.ts says why).
 *
 * Then the idle rule: a partition that never gets data does not hold windows
 * back, one that goes quiet stops holding them back after --idle-timeout and
 * not before. And a production stop (SIGTERM) keeps the open windows for the
 * next run.
 */
import { describe, expect, it } from "vitest"
import * as path from "node:path"
import { readParts, tempDir } from "../e2e/cli.ts"
import { prng } from "../support/random.ts"
import { madeGroup, madeTopic, plainKafka, randomSuffix, sleep } from "./broker.ts"
import { cli, hasStackTrace, interrupt, useSharedBroker } from "./support/processes.ts"
import { expectProductionAlerts } from "./support/productionAlerts.ts"
import { committedOffsets, createTopic, produceLines, readCommitted, topicOffsets } from "./support/topics.ts"
import {
  errorKey,
  expectSameMultiset,
  expectWindowRows,
  lastLinesRead,
  linesReadPattern,
  partitionTruthOf
} from "./support/truth.ts"

const shared = useSharedBroker()

const WINDOW_MS = 30_000
const THRESHOLD = 12
const LINES = 18_000
const STEP_MS = 100

/** A topic, its analyzers' group (with the internal topic and stage 2's group), alerts and output. */
const names = (label: string) => {
  const id = `${label}-${randomSuffix()}`
  const group = madeGroup(`loglens-part-${id}-group`)
  madeTopic(`${group}-partials`)
  madeGroup(`${group}-windows`)
  const dir = tempDir("partitions")
  return {
    topic: madeTopic(`loglens-part-${id}`),
    alerts: madeTopic(`loglens-part-${id}-alerts`),
    group,
    output: path.join(dir, "out")
  }
}

const waitUntil = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100) => {
  const deadline = Date.now() + timeoutMs
  while (!(await ok()) && Date.now() < deadline) await sleep(everyMs)
  expect(await ok(), what).toBe(true)
}

/** The group's committed offset of partition p, or -1. */
const committedAt = async (group: string, topic: string, partition: number) =>
  (await committedOffsets(shared.brokers, group, topic)).get(partition) ?? -1

/**
 * 18 000 lines over 60 windows in time order, split round-robin over the partitions: each
 * partition's own order is the global order. 2 % are a little out of order (some of them late),
 * 0.3 % are far late (rare in every partition's own order, mostly errors), 0.1 % are malformed.
 * About 12 404s and 7 500s per window, so some cells alert and some do not. Each partition ends
 * with a 200 an hour past the backlog: every partition's watermark then passes every window.
 */
const makeBacklog = (seed: number, partitions: number): Array<Array<string>> => {
  const random = prng(seed)
  const base = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW_MS) * WINDOW_MS
  const out = Array.from({ length: partitions }, () => [] as Array<string>)
  const record = (t: number, ip: string, url: string, status: number) =>
    `{"timestamp":"${new Date(t).toISOString()}","ip":"${ip}","method":"GET","url":"${url}","status":${status}}`
  for (let i = 0; i < LINES; i++) {
    let line: string
    if (random() < 0.001) {
      line = "{\"timestamp\":\"2025-05-30T18:52:47Z\",\"ip\":"
    } else {
      let t = base + i * STEP_MS
      const roll = random()
      const farLate = roll < 0.003
      if (farLate) t -= 40_000 + Math.floor(random() * 80_000)
      else if (roll < 0.023) t -= Math.floor(random() * 15_000)
      // Far-late records are mostly errors, so that the late count is not tiny.
      const s = farLate ? random() * 0.1 : random()
      const status = s < 0.04 ? 404 : s < 0.065 ? 500 : 200
      line = record(t, `10.0.${Math.floor(random() * 3)}.${1 + Math.floor(random() * 8)}`, `/resource/${1 + Math.floor(random() * 9)}`, status)
    }
    out[i % partitions]!.push(line)
  }
  for (const lines of out) lines.push(record(base + LINES * STEP_MS + 3_600_000, "10.9.9.9", "/end", 200))
  return out
}

/** How many of a partition's first lines hold its first valid record (so that it is never without one). */
const throughFirstRecord = (lines: ReadonlyArray<string>): number => {
  const first = lines.findIndex((l) => {
    try {
      return typeof JSON.parse(l).status === "number"
    } catch {
      return false
    }
  })
  return first + 1
}

interface Plan {
  readonly label: string
  /** Puts the backlog into the topic: `before` ahead of the analyzer's start, `during` while it runs. */
  readonly before: (topic: string, backlog: ReadonlyArray<ReadonlyArray<string>>) => Promise<void>
  readonly during?: (topic: string, group: string, backlog: ReadonlyArray<ReadonlyArray<string>>) => Promise<void>
}

const produceAll = async (topic: string, backlog: ReadonlyArray<ReadonlyArray<string>>) => {
  for (let p = 0; p < backlog.length; p++) await produceLines(shared.brokers, topic, backlog[p]!, p)
}

const plansFor = (partitions: number): Array<Plan> => {
  const plans: Array<Plan> = [
    { label: "the whole backlog before the start", before: produceAll },
    {
      label: "the partitions fed in turns, 150 lines each, while the analyzer reads",
      // Each partition's first record before the start: a partition that never had one is idle.
      before: async (topic, backlog) => {
        for (let p = 0; p < backlog.length; p++) {
          await produceLines(shared.brokers, topic, backlog[p]!.slice(0, throughFirstRecord(backlog[p]!)), p)
        }
      },
      during: async (topic, _group, backlog) => {
        const longest = Math.max(...backlog.map((l) => l.length))
        for (let from = 0; from < longest; from += 150) {
          for (let p = 0; p < backlog.length; p++) {
            const chunk = backlog[p]!.slice(Math.max(from, throughFirstRecord(backlog[p]!)), from + 150)
            if (chunk.length > 0) await produceLines(shared.brokers, topic, chunk, p)
          }
          await sleep(20)
        }
      }
    }
  ]
  if (partitions > 1) {
    plans.push({
      label: "partition 0 held back at its first record and partition 1 at half, until the others are read",
      before: async (topic, backlog) => {
        await produceLines(shared.brokers, topic, backlog[0]!.slice(0, throughFirstRecord(backlog[0]!)), 0)
        await produceLines(shared.brokers, topic, backlog[1]!.slice(0, Math.floor(backlog[1]!.length / 2)), 1)
        for (let p = 2; p < backlog.length; p++) await produceLines(shared.brokers, topic, backlog[p]!, p)
      },
      during: async (topic, group, backlog) => {
        // Every partition read and committed as far as the topic goes (the held-back ones too).
        await waitUntil("the partitions not held back read", async () => {
          const ends = await topicOffsets(shared.brokers, topic)
          const committed = await committedOffsets(shared.brokers, group, topic)
          return ends.every((e) => (committed.get(e.partition) ?? -1) >= e.high)
        }, 120_000, 250)
        await sleep(2_000)
        await produceLines(shared.brokers, topic, backlog[1]!.slice(Math.floor(backlog[1]!.length / 2)), 1)
        await waitUntil("partition 1 read", async () => (await committedAt(group, topic, 1)) >= backlog[1]!.length, 120_000, 250)
        await sleep(2_000)
        await produceLines(shared.brokers, topic, backlog[0]!.slice(throughFirstRecord(backlog[0]!)), 0)
      }
    })
  }
  return plans
}

/** One backlog for every partition count (LOGLENS_PARTITIONS_SEED replays one). */
const seed = Number(process.env["LOGLENS_PARTITIONS_SEED"] ?? Math.floor(Math.random() * 2 ** 31))

describe.concurrent("per-partition watermarks, real broker, real CLI", () => {
  for (const partitions of [1, 3, 6]) {
    it(`the same backlog over ${partitions} partition(s): every interleaving gives the reference's results`, async () => {
      const backlog = makeBacklog(seed, partitions)
      const truth = partitionTruthOf(backlog, { threshold: THRESHOLD })
      expect(truth.counters.late, `seed ${seed}`).toBeGreaterThan(0)
      expect(truth.alerts.length).toBeGreaterThan(5)
      expect(truth.rows.length - truth.alerts.length).toBeGreaterThan(5)
      const c = truth.counters
      for (const plan of plansFor(partitions)) {
        const label = `seed ${seed}, ${partitions} partition(s), ${plan.label}`
        const n = names("wm")
        await createTopic(shared.brokers, n.topic, partitions)
        await plan.before(n.topic, backlog)
        const analyzer = cli([
          "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", n.topic,
          "--alerts-topic", n.alerts, "--group-id", n.group, "--output", n.output,
          "--window", "30s", "--watermark", "10s", "--threshold", String(THRESHOLD),
          "--idle-timeout", "10m", "--commit-interval", "250ms", "--trigger", "250ms"
        ])
        await plan.during?.(n.topic, n.group, backlog)
        await analyzer.waitFor(new RegExp(`${linesReadPattern(c.lines).source}[^\n]*open windows 0,`), 180_000)
        // Stage 2 merges what stage 1 committed: the report can show no open window before the rows are out.
        await waitUntil(`${label}: ${truth.rows.length} rows in windows/`,
          () => readParts(path.join(n.output, "windows")).length >= truth.rows.length, 60_000)
        const done = await interrupt(analyzer)
        expect(done.code, done.stderr).toBe(0)
        expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
        console.log(`[partitions test] ${label}: ${c.late} late errors`)
        expect(done.stdout, label).toMatch(new RegExp(
          `Final report .*lines read ${c.lines.toLocaleString("en-US")}, rejected ${c.rejected.toLocaleString("en-US")}, ` +
            `errors ${c.errors.toLocaleString("en-US")}, late errors ${c.late.toLocaleString("en-US")},`
        ))
        expectSameMultiset(
          `${label}: errors/`,
          readParts(path.join(n.output, "errors")).map(errorKey),
          truth.errors.flat().map((e) => errorKey(JSON.parse(e)))
        )
        expectWindowRows(readParts(path.join(n.output, "windows")), truth.rows)
        expectSameMultiset(
          `${label}: rejected/`,
          readParts(path.join(n.output, "rejected")).map((r) => r.line),
          truth.rejectedLines.flat()
        )
        expectProductionAlerts(await readCommitted(shared.brokers, n.alerts, truth.alerts.length), truth, THRESHOLD)
      }
    }, 900_000)
  }
})

describe("idle partitions, real broker, real CLI", () => {
  it("an empty partition never holds windows back; a quiet one stops holding them back after --idle-timeout, not before", async () => {
    const n = names("idle")
    const WINDOW = 2_000
    const IDLE = 10_000
    const T = Math.floor((Date.now() - 3_600_000) / WINDOW) * WINDOW
    const record = (ms: number) => `{"timestamp":"${new Date(ms).toISOString()}","ip":"10.0.0.1","method":"GET","url":"/r","status":404}`
    await createTopic(shared.brokers, n.topic, 3)
    const producer = plainKafka(shared.brokers).producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const send = (partition: number, times: ReadonlyArray<number>) =>
      producer.send({ topic: n.topic, acks: -1, messages: times.map((ms) => ({ value: record(ms), partition })) })
    // Partition 1: windows 0 and 1 only (its watermark T + 3.2 s). Partition 2: nothing, ever.
    const p1 = Array.from({ length: 20 }, (_, i) => T + 100 + i * 190)
    await send(1, p1)
    let produced = p1.length
    // Partition 0 goes on: one record every 250 ms, its event time a quarter second further each time.
    let p0Time = T
    let feeding = true
    const feeder = (async () => {
      while (feeding) {
        await send(0, [p0Time])
        produced++
        p0Time += 250
        await sleep(250)
      }
    })()

    const analyzer = cli([
      "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", n.topic,
      "--alerts-topic", n.alerts, "--group-id", n.group, "--output", n.output,
      "--window", "2s", "--watermark", "500ms", "--threshold", "1000", "--idle-timeout", "10s",
      "--commit-interval", "200ms", "--trigger", "250ms"
    ])
    const closed = () => readParts(path.join(n.output, "windows")).map((r) => Date.parse(r.window_start) - T)
    try {
      // Committed: read at the latest then (the commit follows the read within a commit interval).
      await waitUntil("partition 1 read", async () => (await committedAt(n.group, n.topic, 1)) >= p1.length, 60_000, 50)
      const readAt = Date.now()
      // Window 0 closes although partition 2 never had a record; window 1 waits for quiet partition 1.
      await waitUntil("window 0 closed", () => closed().includes(0), IDLE - 1_000, 50)
      expect(closed()).not.toContain(WINDOW)
      await waitUntil("window 1 closed once partition 1 is idle", () => closed().includes(WINDOW), IDLE + 20_000, 50)
      const quietFor = Date.now() - readAt
      expect(quietFor, "window 1 closed before partition 1 was quiet for --idle-timeout").toBeGreaterThanOrEqual(IDLE - 1_000)
      // ...while partition 0 goes on: its own watermark still holds its latest window open.
      expect(Math.max(...closed())).toBeLessThan(p0Time - T - 500)
      feeding = false
      await feeder
      // Partition 0 goes quiet too: once it is idle every window closes, and no error was late.
      await waitUntil("every error in a closed window", () =>
        readParts(path.join(n.output, "windows")).reduce((sum, r) => sum + r.error_count, 0) === produced, IDLE * 4, 200)
      await waitUntil("every line read", () => lastLinesRead(analyzer.stdout()) === produced, 30_000)
      const done = await interrupt(analyzer)
      expect(done.code, done.stderr).toBe(0)
      expect(done.stdout).toMatch(/Final report .* late errors 0,/)
      const cells = closed()
      expect(cells.length, "one row per window").toBe(new Set(cells).size)
    } finally {
      feeding = false
      await feeder
      await producer.disconnect()
    }
  }, 240_000)
})

describe("production shutdown, real CLI", () => {
  it("SIGTERM mid-window keeps the window open; the restarts continue it, and its row and its alert appear exactly once", async () => {
    const n = names("stop")
    const WINDOW = 10_000
    const W = Math.floor((Date.now() - 3_600_000) / WINDOW) * WINDOW
    const record = (ms: number, status: number, ip: string) =>
      `{"timestamp":"${new Date(ms).toISOString()}","ip":"${ip}","method":"GET","url":"/r","status":${status}}`
    // 15 errors of window W over 3 partitions: under the threshold of 20.
    const errorsOfW = (from: number) => Array.from({ length: 15 }, (_, i) => record(W + 100 + (from + i) * 50, 404, `10.0.0.${from + i}`))
    const toPartitions = async (lines: ReadonlyArray<string>) => {
      for (let p = 0; p < 3; p++) await produceLines(shared.brokers, n.topic, lines.filter((_, i) => i % 3 === p), p)
    }
    await createTopic(shared.brokers, n.topic, 3)
    const args = [
      "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", n.topic, "--alerts-topic", n.alerts,
      "--group-id", n.group, "--output", n.output, "--window", "10s", "--watermark", "2s", "--threshold", "20",
      "--idle-timeout", "10m", "--trigger", "250ms", "--commit-interval", "200ms"
    ]
    /** A run that reads `lines` new lines (a stop commits what it read, so the next run reads on after it). */
    const runUntil = async (lines: number, until: () => Promise<boolean> | boolean) => {
      const child = cli(args)
      await child.waitFor(linesReadPattern(lines), 60_000)
      const deadline = Date.now() + 60_000
      while (!(await until()) && Date.now() < deadline) await sleep(100)
      child.child.kill("SIGTERM")
      const end = await child.done
      expect(end.code, end.stderr).toBe(0)
      expect(end.stdout).toMatch(new RegExp(`Final report .*${linesReadPattern(lines).source}`))
      return end
    }
    const rowsOfW = () => readParts(path.join(n.output, "windows")).filter((r) => Date.parse(r.window_start) === W)
    const alertsNow = async () => (await readCommitted(shared.brokers, n.alerts, 0, { settleMs: 1_000, timeoutMs: 5_000 }))

    // 1. Half of the window's errors; stopped while the window is open: no row.
    await toPartitions(errorsOfW(0))
    await runUntil(15, () => true)
    expect(rowsOfW()).toEqual([])

    // 2. The other half: the restart continues the window, crosses the threshold and alerts; stopped again.
    await toPartitions(errorsOfW(15))
    await runUntil(15, async () => (await alertsNow()).length > 0)
    expect(rowsOfW()).toEqual([])

    // 3. Every partition passes the window's end: the third run closes it.
    await toPartitions([0, 1, 2].map((i) => record(W + WINDOW + 2_000 + i, 200, "10.9.9.9")))
    await runUntil(3, () => rowsOfW().length > 0)

    const rows = rowsOfW()
    expect(rows.map((r) => [r.status, r.error_count, r.unique_ips])).toEqual([[404, 30, 30]])
    const alerts = await alertsNow()
    expect(alerts.map((a) => [a.key, JSON.parse(a.value).error_count])).toEqual([[`${new Date(W).toISOString()}|404`, 21]])
  }, 240_000)
})
