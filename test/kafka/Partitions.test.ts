/**
 * Per-partition watermarks against a REAL broker (issue 11): the analyzer
 * (in process, with the real Kafka source, file stores and the Kafka alert
 * publisher) reads the same backlog over 1, 3 and 6 partitions with
 * deliberately different fetch interleavings: kafkajs's defaults, tiny fetches
 * (a few lines per batch, partitions taking turns), and single partitions
 * paused while the others run ahead. Every run must equal the independent
 * per-partition reference (test/analyzer/partitionReference.ts): errors/,
 * windows/, rejected/, the late count and the alerts topic (read_committed).
 *
 * Then the idle rule: a partition that never gets data must not hold windows
 * back, one that goes quiet stops holding them back after --idle-timeout, and
 * one with unread records always holds them back. And a production stop
 * (SIGTERM, the real CLI) keeps the open windows for the next run.
 */
import { afterAll, describe, expect, it } from "vitest"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as fs from "node:fs"
import * as path from "node:path"
import { runAnalyzer } from "../../src/analyzer/Analyzer.ts"
import { type Checkpoint, CheckpointStore } from "../../src/sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "../../src/sinks/Stores.ts"
import { KafkaAlertPublisher } from "../../src/transport/kafka/AlertPublisher.ts"
import { kafkaSettingsFromEnv } from "../../src/transport/kafka/Settings.ts"
import { KafkaLineSource, type PartitionControl } from "../../src/transport/kafka/Source.ts"
import { readParts, tempDir } from "../e2e/cli.ts"
import { prng } from "../support/random.ts"
import { madeGroup, madeTopic, plainKafka, randomSuffix, sleep } from "./broker.ts"
import { cli, useSharedBroker } from "./support/processes.ts"
import { committedOffsets, createTopic, produceLines, readCommitted, topicOffsets } from "./support/topics.ts"
import {
  errorKey,
  expectPartitionAlerts,
  expectSameMultiset,
  expectWindowRows,
  linesReadPattern,
  partitionTruthOf
} from "./support/truth.ts"

const shared = useSharedBroker()
const dirs: Array<string> = []

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const WINDOW_MS = 30_000
const THRESHOLD = 12
const IDLE_MS = 1_500

/**
 * 18 000 lines over 60 windows in time order, split round-robin over the partitions: each
 * partition's own order is the global order. 2 % are a little out of order (some of them late),
 * 0.3 % are far late (rare in every partition's own order, mostly errors), 0.1 % are malformed. About 12 404s and
 * 7 500s per window, so some cells alert and some do not.
 */
const makeBacklog = (seed: number, partitions: number): Array<Array<string>> => {
  const random = prng(seed)
  const base = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW_MS) * WINDOW_MS
  const out = Array.from({ length: partitions }, () => [] as Array<string>)
  for (let i = 0; i < 18_000; i++) {
    let line: string
    if (random() < 0.001) {
      line = "{\"timestamp\":\"2025-05-30T18:52:47Z\",\"ip\":"
    } else {
      let t = base + i * 100
      const roll = random()
      const farLate = roll < 0.003
      if (farLate) t -= 40_000 + Math.floor(random() * 80_000)
      else if (roll < 0.023) t -= Math.floor(random() * 15_000)
      // Far-late records are mostly errors, so that the late count is not tiny.
      const s = farLate ? random() * 0.1 : random()
      const status = s < 0.04 ? 404 : s < 0.065 ? 500 : 200
      const ip = `10.0.${Math.floor(random() * 3)}.${1 + Math.floor(random() * 8)}`
      line = `{"timestamp":"${new Date(t).toISOString()}","ip":"${ip}","method":"GET","url":"/resource/${1 + Math.floor(random() * 9)}","status":${status}}`
    }
    out[i % partitions]!.push(line)
  }
  return out
}

interface Plan {
  readonly label: string
  readonly fetch?: { readonly maxBytesPerPartition?: number; readonly maxBytes?: number }
  /** Drives pauses while the analyzer runs: gets the consumer's controls and the latest checkpoint. */
  readonly drive?: (control: PartitionControl, checkpoint: () => Checkpoint | undefined) => Promise<void>
}

interface RunResult {
  readonly checkpoint: Checkpoint
  readonly output: string
  readonly alertsTopic: string
}

interface Running {
  readonly output: string
  readonly groupId: string
  readonly alertsTopic: string
  /** The latest checkpoint (kept in memory). */
  readonly checkpoint: () => Checkpoint | undefined
  /** The running consumer's pause and resume, once it runs. */
  readonly control: () => PartitionControl | undefined
  readonly stop: () => Promise<void>
}

/** The analyzer in this process: the real Kafka source and alert publisher, file stores, checkpoint in memory. */
const startAnalyzer = (
  topic: string,
  analysis: { readonly windowMs: number; readonly watermarkMs: number; readonly threshold: number; readonly idleTimeoutMs: number },
  fetch?: Plan["fetch"]
): Running => {
  const id = randomSuffix()
  const dir = tempDir("partitions")
  dirs.push(dir)
  const output = path.join(dir, "out")
  const groupId = madeGroup(`loglens-part-${id}-group`)
  const alertsTopic = madeTopic(`loglens-part-${id}-alerts`)
  const settings = kafkaSettingsFromEnv(shared.brokers, {})
  const cell: { current: Checkpoint | undefined } = { current: undefined }
  let control: PartitionControl | undefined
  const runtime = ManagedRuntime.make(Layer.mergeAll(
    ErrorStore.layerFile(path.join(output, "errors")),
    WindowStore.layerFile(path.join(output, "windows")),
    RejectedStore.layerFile(path.join(output, "rejected")),
    CheckpointStore.layerMemory(cell),
    KafkaLineSource.layer({
      settings,
      topic,
      groupId,
      startingOffsets: "earliest",
      maxLineBytes: 65_536,
      fetch,
      onConsumerRunning: (c) => void (control ??= c)
    }),
    KafkaAlertPublisher.layer({ settings, topic: alertsTopic, groupId, sourceTopic: topic })
  ))
  const fiber = runtime.runFork(runAnalyzer({
    analysis: { format: "json", maxFutureMs: 3_600_000, ...analysis },
    triggerMs: 60_000,
    commitIntervalMs: 100,
    checkpointSettings: { format: "json", window: `${analysis.windowMs}ms`, watermark: `${analysis.watermarkMs}ms`, threshold: analysis.threshold }
  }))
  return {
    output,
    groupId,
    alertsTopic,
    checkpoint: () => cell.current,
    control: () => control,
    stop: async () => {
      await runtime.runPromise(Fiber.interrupt(fiber))
      await runtime.dispose()
    }
  }
}

/**
 * Runs the analyzer on `topic` until every line is read and every window closed by the idle rule
 * (the backlog is complete, so every partition ends idle), then stops it.
 */
const analyse = async (topic: string, lineCount: number, plan: Plan): Promise<RunResult> => {
  const run = startAnalyzer(topic, { windowMs: WINDOW_MS, watermarkMs: 10_000, threshold: THRESHOLD, idleTimeoutMs: IDLE_MS }, plan.fetch)
  try {
    const driving = (async () => {
      const deadline = Date.now() + 30_000
      while (run.control() === undefined && Date.now() < deadline) await sleep(5)
      const control = run.control()
      if (control !== undefined && plan.drive) await plan.drive(control, run.checkpoint)
    })()
    const deadline = Date.now() + 120_000
    const done = () => {
      const cp = run.checkpoint()
      return cp !== undefined && cp.analysis.counters.lines === lineCount && cp.analysis.cells.length === 0
    }
    while (!done() && Date.now() < deadline) await sleep(50)
    await driving
    // Stop only once the last epoch is published and acknowledged (the group's offsets are at the
    // ends): this test is about what the rule decides, not about a stop in the middle of an epoch.
    const ends = await topicOffsets(shared.brokers, topic)
    while (Date.now() < deadline) {
      const committed = await committedOffsets(shared.brokers, run.groupId, topic)
      if (ends.every((e) => (committed.get(e.partition) ?? (e.high === 0 ? 0 : -1)) >= e.high)) break
      await sleep(100)
    }
    await sleep(300)
    expect(done(), `${plan.label}: not every line read and window closed in time: ${JSON.stringify(run.checkpoint()?.position)}`)
      .toBe(true)
  } finally {
    await run.stop()
  }
  return { checkpoint: run.checkpoint()!, output: run.output, alertsTopic: run.alertsTopic }
}

/** Waits until every partition but `except` has been read to its end (per the checkpoint). */
const othersDone = async (topic: string, except: ReadonlyArray<number>, checkpoint: () => Checkpoint | undefined) => {
  const ends = await topicOffsets(shared.brokers, topic)
  const deadline = Date.now() + 60_000
  const finished = () =>
    ends.every((e) => except.includes(e.partition) || (checkpoint()?.position[String(e.partition)] ?? -1) >= e.high)
  while (!finished() && Date.now() < deadline) await sleep(50)
}

const plansFor = (topic: string, partitions: number): Array<Plan> => {
  const plans: Array<Plan> = [
    { label: "kafkajs defaults" },
    { label: "tiny fetches", fetch: { maxBytesPerPartition: 1_024, maxBytes: 4_096 } }
  ]
  if (partitions > 1) {
    plans.push({
      label: "partition 0 paused until the others are read (and idle), partition 1 paused half-way",
      fetch: { maxBytesPerPartition: 16_384 },
      drive: async (control, checkpoint) => {
        control.pause([0])
        const half = Math.floor(18_000 / partitions / 2)
        const deadline = Date.now() + 60_000
        while ((checkpoint()?.position["1"] ?? 0) < half && Date.now() < deadline) await sleep(20)
        control.pause([1])
        await othersDone(topic, [0, 1], checkpoint)
        await sleep(IDLE_MS + 1_000) // the others go idle meanwhile
        control.resume([1])
        await othersDone(topic, [0], checkpoint)
        await sleep(IDLE_MS + 1_000)
        control.resume([0])
      }
    })
  }
  return plans
}

/** One backlog for every partition count (LOGLENS_PARTITIONS_SEED replays one). */
const seed = Number(process.env["LOGLENS_PARTITIONS_SEED"] ?? Math.floor(Math.random() * 2 ** 31))

describe.concurrent("per-partition watermarks, real broker", () => {
  for (const partitions of [1, 3, 6]) {
    it(`the same backlog over ${partitions} partition(s): every fetch interleaving gives the reference's results`, async () => {
      const topic = madeTopic(`loglens-part-${randomSuffix()}`)
      const backlog = makeBacklog(seed, partitions)
      const truth = partitionTruthOf(backlog, { threshold: THRESHOLD })
      expect(truth.counters.late, `seed ${seed}`).toBeGreaterThan(0)
      expect(truth.alerts.length).toBeGreaterThan(5)
      expect(truth.rows.length - truth.alerts.length).toBeGreaterThan(5)
      await createTopic(shared.brokers, topic, partitions)
      for (let p = 0; p < partitions; p++) await produceLines(shared.brokers, topic, backlog[p]!, p)
      const lineCount = truth.counters.lines
      for (const plan of plansFor(topic, partitions)) {
        const run = await analyse(topic, lineCount, plan)
        const label = `seed ${seed}, ${partitions} partition(s), ${plan.label}`
        console.log(`[partitions test] ${label}: ${run.checkpoint.analysis.counters.late} late errors`)
        expect(run.checkpoint.analysis.counters, label).toEqual(truth.counters)
        expectSameMultiset(
          `${label}: errors/`,
          readParts(path.join(run.output, "errors")).map(errorKey),
          truth.errors.flat().map((e) => errorKey(JSON.parse(e)))
        )
        expectWindowRows(readParts(path.join(run.output, "windows")), truth.rows)
        expectSameMultiset(
          `${label}: rejected/`,
          readParts(path.join(run.output, "rejected")).map((r) => r.line),
          truth.rejectedLines.flat()
        )
        expectPartitionAlerts(await readCommitted(shared.brokers, run.alertsTopic, truth.alerts.length), truth.alerts, THRESHOLD)
      }
    }, 600_000)
  }
})

describe("idle partitions, real broker", () => {
  it("an empty partition never holds windows back; a quiet one stops after --idle-timeout; one with unread records always does", async () => {
    const topic = madeTopic(`loglens-idle-${randomSuffix()}`)
    const WINDOW = 2_000
    const IDLE = 4_000
    const T = Math.floor((Date.now() - 3_600_000) / WINDOW) * WINDOW
    const record = (ms: number) => `{"timestamp":"${new Date(ms).toISOString()}","ip":"10.0.0.1","method":"GET","url":"/r","status":404}`
    await createTopic(shared.brokers, topic, 3)
    const producer = plainKafka(shared.brokers).producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const send = (partition: number, times: ReadonlyArray<number>) =>
      producer.send({ topic, acks: -1, messages: times.map((ms) => ({ value: record(ms), partition })) })
    // Partition 1: windows 0 and 1 only (watermark T + 3.4 s). Partition 2: nothing, ever.
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

    const run = startAnalyzer(topic, { windowMs: WINDOW, watermarkMs: 500, threshold: 1_000, idleTimeoutMs: IDLE })
    const output = run.output
    const closed = () => readParts(path.join(output, "windows")).map((r) => Date.parse(r.window_start) - T)
    const waitFor = async (what: string, ok: () => boolean, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      while (!ok() && Date.now() < deadline) await sleep(20)
      expect(ok(), what).toBe(true)
    }
    try {
      await waitFor("partition 1 read", () => (run.checkpoint()?.position["1"] ?? 0) >= p1.length)
      const readAt = Date.now()
      // Window 0 closes although partition 2 never had a record; window 1 waits for quiet partition 1.
      await waitFor("window 0 closed", () => closed().includes(0), IDLE - 1_000)
      expect(closed()).not.toContain(WINDOW)
      await waitFor("window 1 closed once partition 1 is idle", () => closed().includes(WINDOW), IDLE + 5_000)
      const quietFor = Date.now() - readAt
      expect(quietFor, "window 1 closed before partition 1 was quiet for --idle-timeout").toBeGreaterThanOrEqual(IDLE - 300)
      // ...while partition 0 goes on: its own watermark still holds its latest window open.
      expect(Math.max(...closed())).toBeLessThan(p0Time - T - 500)

      // Partition 1 gets records again, but is paused: it has unread records, so it is not idle and
      // holds every window from its watermark on back, however long it stays quiet.
      run.control()!.pause([1])
      const resumeAt = p0Time + 1_000
      const later = Array.from({ length: 5 }, (_, i) => resumeAt + i * 100)
      await send(1, later)
      produced += later.length
      await sleep(1_500) // the end-offset poll sees them
      const before = closed().length
      await sleep(IDLE + 1_000)
      expect(closed().length, "a window closed while partition 1 had unread records").toBe(before)
      run.control()!.resume([1])
      await waitFor("partition 1 read again", () => (run.checkpoint()?.position["1"] ?? 0) >= p1.length + later.length)
      // Its records were on time: they count, in windows that were held open for them.
      feeding = false
      await feeder
      await waitFor("every line read and every window closed", () =>
        run.checkpoint()?.analysis.counters.lines === produced && run.checkpoint()?.analysis.cells.length === 0, IDLE * 3)
      expect(run.checkpoint()!.analysis.counters.late).toBe(0)
      const rows = readParts(path.join(output, "windows"))
      expect(rows.reduce((n, r) => n + r.error_count, 0)).toBe(produced)
    } finally {
      feeding = false
      await feeder
      await producer.disconnect()
      await run.stop()
    }
  }, 120_000)
})

describe("production shutdown, real CLI", () => {
  it("SIGTERM mid-window keeps the window open; the restarts continue it, and its row and its alert appear exactly once", async () => {
    const id = randomSuffix()
    const topic = madeTopic(`loglens-stop-${id}`)
    const alertsTopic = madeTopic(`${topic}-alerts`)
    const group = madeGroup(`${topic}-group`)
    const dir = tempDir("stop")
    dirs.push(dir)
    const output = path.join(dir, "out")
    const WINDOW = 10_000
    const W = Math.floor((Date.now() - 3_600_000) / WINDOW) * WINDOW
    const record = (ms: number, status: number, ip: string) =>
      `{"timestamp":"${new Date(ms).toISOString()}","ip":"${ip}","method":"GET","url":"/r","status":${status}}`
    // 15 errors of window W over 3 partitions: under the threshold of 20.
    const errorsOfW = (from: number) => Array.from({ length: 15 }, (_, i) => record(W + 100 + (from + i) * 50, 404, `10.0.0.${from + i}`))
    const toPartitions = async (lines: ReadonlyArray<string>) => {
      for (let p = 0; p < 3; p++) await produceLines(shared.brokers, topic, lines.filter((_, i) => i % 3 === p), p)
    }
    await createTopic(shared.brokers, topic, 3)
    const args = [
      "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", topic, "--alerts-topic", alertsTopic,
      "--group-id", group, "--output", output, "--window", "10s", "--watermark", "2s", "--threshold", "20",
      "--idle-timeout", "10m", "--trigger", "250ms", "--commit-interval", "200ms"
    ]
    const runUntil = async (lines: number, until: () => Promise<boolean> | boolean) => {
      const child = cli(args)
      await child.waitFor(linesReadPattern(lines), 60_000)
      const deadline = Date.now() + 60_000
      while (!(await until()) && Date.now() < deadline) await sleep(100)
      child.child.kill("SIGTERM")
      const end = await child.done
      expect(end.code, end.stderr).toBe(0)
      return end
    }
    const rowsOfW = () => readParts(path.join(output, "windows")).filter((r) => Date.parse(r.window_start) === W)
    const alertsNow = async () => (await readCommitted(shared.brokers, alertsTopic, 0, { settleMs: 1_000, timeoutMs: 5_000 }))

    // 1. Half of the window's errors; stopped while the window is open: no row, and it says so.
    await toPartitions(errorsOfW(0))
    const first = await runUntil(15, () => true)
    expect(first.stderr).toMatch(/1 open windows stay open in the checkpoint/)
    expect(rowsOfW()).toEqual([])

    // 2. The other half: the restart continues the window, crosses the threshold and alerts; stopped again.
    await toPartitions(errorsOfW(15))
    await runUntil(30, async () => (await alertsNow()).length > 0)
    expect(rowsOfW()).toEqual([])

    // 3. Every partition passes the window's end: the third run closes it.
    await toPartitions([0, 1, 2].map((i) => record(W + WINDOW + 2_000 + i, 200, "10.9.9.9")))
    await runUntil(33, () => rowsOfW().length > 0)

    const rows = rowsOfW()
    expect(rows.map((r) => [r.status, r.error_count, r.unique_ips])).toEqual([[404, 30, 30]])
    const alerts = await alertsNow()
    expect(alerts.map((a) => [a.key, JSON.parse(a.value).error_count])).toEqual([[`${new Date(W).toISOString()}|404`, 21]])
  }, 240_000)
})
