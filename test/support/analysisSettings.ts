/** The settings most Analysis tests share: 30 s windows, a 10 s watermark, threshold 100. */
import type { AnalysisSettings } from "../../src/domain/Analysis.ts"

export const SECOND = 1000
/** 2025-05-30T18:52:30Z, the start of a 30 s window. */
export const T0 = Date.UTC(2025, 4, 30, 18, 52, 30)
/** Wall clock for most tests: well after every event time used. */
export const NOW = T0 + 3_600 * SECOND

export const SETTINGS: AnalysisSettings = {
  format: "json",
  windowMs: 30 * SECOND,
  watermarkMs: 10 * SECOND,
  threshold: 100,
  idleTimeoutMs: 30 * SECOND,
  maxFutureMs: 3_600 * SECOND
}

/** The reference models' settings for `SETTINGS` with another threshold (test/analyzer/partitionReference.ts). */
export const referenceSettings = (threshold: number) => ({
  format: "json" as const,
  windowMs: SETTINGS.windowMs,
  watermarkMs: SETTINGS.watermarkMs,
  threshold,
  maxFutureMs: SETTINGS.maxFutureMs,
  nowMs: NOW
})
