/**
 * Risk profiles: ladders and gate settings a service picks with `profile: "standard"` and
 * overrides field by field. They hold no alarm names (those are per service; the components add
 * an alarm gate for the alarms they create).
 */
import type { PolicyInput, ProfileName } from "./schema.js";

export const PRESETS: Record<ProfileName, PolicyInput> = {
  /** Internal tools, low blast radius: two quick steps. */
  low: {
    strategy: {
      type: "canary",
      steps: [
        { percent: 10, hold: "5m" },
        { percent: 50, hold: "5m" },
      ],
    },
    // Bands tight enough that a 0.1 % -> 0.6 % regression (6x the errors) is rolled back: with
    // 0.5/1 points the simulator saw the low preset promote it every time.
    // Relative bands with point floors: the floors decide below ~1 % base rates, the shares above
    // (a 2 % base rolls back beyond +0.8 points), so one preset serves 0.01 % to 5 % base rates.
    // The same 30 % rollback share as standard: a 2 % -> 3 % regression (+50 %) is then rolled
    // back at 100 rps in at least 95 % of runs (with 40 % it sat too close to the band: 94 %,
    // and 1 promoted in 300).
    gates: [{ type: "errorRate", holdBand: "15%", holdBandMin: 0.2, rollbackBand: "30%", rollbackBandMin: 0.4, minSamples: 100 }],
    timeouts: { maxHold: "20m", onTimeout: "pause" },
  },
  /** The default ladder: 1 -> 5 -> 25 -> 50 -> 100 %, ten minutes a step. */
  standard: {
    strategy: {
      type: "canary",
      steps: [
        { percent: 1, hold: "10m" },
        { percent: 5, hold: "10m" },
        { percent: 25, hold: "10m" },
        { percent: 50, hold: "10m" },
      ],
    },
    gates: [
      // 0.1 / 0.25 points below a ~1 % base rate; 10 % / 30 % of the baseline rate above it
      // (2 % -> hold beyond +0.2, roll back beyond +0.6 points).
      { type: "errorRate", holdBand: "10%", holdBandMin: 0.1, rollbackBand: "30%", rollbackBandMin: 0.25, minSamples: 200 },
      { type: "latency", percentile: 99, holdBand: 50, rollbackBand: 200, minSamples: 200 },
    ],
    timeouts: { maxHold: "40m", onTimeout: "pause" },
  },
  /** Payments-grade: starts at 0.1 %, longer holds, a human approves before the last step. */
  high: {
    strategy: {
      type: "canary",
      steps: [
        { percent: 0.1, hold: "15m" },
        { percent: 1, hold: "15m" },
        { percent: 5, hold: "15m" },
        { percent: 25, hold: "15m" },
        { percent: 50, hold: "15m", approval: true },
      ],
    },
    gates: [
      { type: "errorRate", holdBand: "10%", holdBandMin: 0.05, rollbackBand: "25%", rollbackBandMin: 0.2, minSamples: 300 },
      { type: "latency", percentile: 99, holdBand: 25, rollbackBand: 100, minSamples: 300 },
    ],
    // Pause, not rollback, on timeout: at 0.1 % a low-traffic service may not gather 300 samples
    // in an hour, and a timeout is not evidence of a bad release (the simulator measured 59 %
    // false rollbacks at 100 rps with onTimeout: rollback).
    timeouts: { maxHold: "1h", onTimeout: "pause" },
  },
};
