/**
 * The rollout report as a hand-written SVG: a header, the canary weight over time with the step
 * ladder as bands, one panel per gate with canary and baseline lines, and every decision marked
 * across all panels and listed, numbered, under the chart. No chart library: the figure has a
 * handful of primitives and must render the same in a browser, rsvg and a GitHub README.
 */
import type { ReportData, ReportDecision, ReportGateSeries } from "./model.js";
import { MARKED_ACTIONS } from "./model.js";

const WIDTH = 1040;
const MARGIN = { left: 78, right: 150 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const HEADER_H = 96;
const WEIGHT_H = 200;
const GATE_H = 130;
const PANEL_GAP = 58;
const FONT = "Inter, 'Helvetica Neue', Helvetica, Arial, sans-serif";

const COLOR = {
  canary: "#e8590c",
  baseline: "#1c7ed6",
  weight: "#e8590c",
  grid: "#e9ecef",
  axis: "#868e96",
  text: "#212529",
  muted: "#6c757d",
  bandA: "#f8f9fa",
  bandB: "#f1f3f5",
};

const ACTION_COLOR: Record<string, string> = {
  start: "#495057",
  advance: "#1c7ed6",
  promote: "#2f9e44",
  finalize: "#2f9e44",
  rollback: "#e03131",
  kill: "#a61e4d",
  abort: "#c92a2a",
  "pause-for-approval": "#f08c00",
  pause: "#f08c00",
  resume: "#1098ad",
  approve: "#1098ad",
  freeze: "#5f3dc4",
  unfreeze: "#5f3dc4",
};

const OUTCOME_COLOR: Record<string, string> = { promoted: "#2f9e44", "rolled-back": "#e03131", aborted: "#c92a2a" };

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** 1, 2, 5 x 10^k tick step giving about `target` ticks over `span`. */
export function niceStep(span: number, target: number): number {
  if (!(span > 0)) return 1;
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function fmtNum(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return Number(v.toFixed(1)).toString();
  if (a >= 1) return Number(v.toFixed(2)).toString();
  return Number(v.toPrecision(2)).toString();
}

function fmtElapsed(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h}h` : `${h}h${String(m % 60).padStart(2, "0")}`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function renderReportSvg(data: ReportData): string {
  const span = Math.max(60_000, data.end - data.start);
  const x = (t: number) => MARGIN.left + (Math.min(Math.max(t, data.start), data.start + span) - data.start) / span * PLOT_W;
  const marked = data.decisions.filter((d) => MARKED_ACTIONS.has(d.action));
  const listRows = marked.length;
  const gatesTop = HEADER_H + WEIGHT_H + PANEL_GAP;
  const chartBottom = gatesTop + data.gates.length * (GATE_H + PANEL_GAP);
  const listTop = chartBottom + 4;
  const height = listTop + 26 + listRows * 18 + 20;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" font-size="12" fill="${COLOR.text}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
  );

  // Header: title, subtitle and the outcome badge.
  out.push(`<text x="${MARGIN.left}" y="30" font-size="19" font-weight="700">${escapeXml(data.title)}</text>`);
  if (data.subtitle) out.push(`<text x="${MARGIN.left}" y="52" font-size="12.5" fill="${COLOR.muted}">${escapeXml(truncate(data.subtitle, 140))}</text>`);
  const badge = data.outcome;
  const badgeW = 14 + badge.length * 7.2;
  out.push(
    `<rect x="${WIDTH - MARGIN.right + 140 - badgeW}" y="14" width="${badgeW}" height="24" rx="12" fill="${OUTCOME_COLOR[badge] ?? "#495057"}"/>`,
    `<text x="${WIDTH - MARGIN.right + 140 - badgeW / 2}" y="30" font-size="12" font-weight="700" fill="#fff" text-anchor="middle">${escapeXml(badge)}</text>`,
  );

  // Time axis ticks shared by every panel.
  // Whole minutes at least: CloudWatch data is per minute, and labels are printed in minutes
  // (a 0.5 m step printed "1m 1m 2m 2m" on a five-minute rollout).
  const tickStep = Math.max(1, niceStep(span / 60_000, 8)) * 60_000;
  const ticks: number[] = [];
  for (let t = 0; t <= span + 1; t += tickStep) ticks.push(data.start + t);

  // Weight panel.
  const wTop = HEADER_H;
  const wBottom = wTop + WEIGHT_H;
  // A square-root scale: a 1 -> 5 -> 25 -> 50 -> 100 % ladder climbs in visible steps instead of
  // hugging the axis until the last two.
  const yW = (p: number) => wBottom - Math.sqrt(Math.max(0, p) / 100) * WEIGHT_H;
  out.push(panelTitle("Canary traffic (% of requests, square-root scale)", wTop));
  data.steps.forEach((s, i) => {
    const x0 = x(s.from);
    const x1 = x(s.to);
    if (x1 - x0 < 0.5) return;
    out.push(`<rect x="${x0.toFixed(1)}" y="${wTop}" width="${(x1 - x0).toFixed(1)}" height="${WEIGHT_H}" fill="${i % 2 ? COLOR.bandB : COLOR.bandA}"/>`);
    if (x1 - x0 > 28) out.push(`<text x="${((x0 + x1) / 2).toFixed(1)}" y="${wTop + 32}" font-size="10.5" fill="${COLOR.muted}" text-anchor="middle">${escapeXml(s.label)}</text>`);
  });
  for (const p of [0, 1, 5, 25, 50, 100]) {
    out.push(hline(yW(p), p === 0 ? COLOR.axis : COLOR.grid));
    out.push(`<text x="${MARGIN.left - 8}" y="${yW(p) + 4}" text-anchor="end" fill="${COLOR.muted}">${p} %</text>`);
  }
  out.push(timeAxis(ticks, x, wBottom, data.start));
  if (data.weights.length > 0) {
    const pts: string[] = [];
    let prev: number | undefined;
    for (const w of data.weights) {
      const px = x(w.t).toFixed(1);
      if (prev !== undefined) pts.push(`${px},${yW(prev).toFixed(1)}`);
      pts.push(`${px},${yW(w.canaryPercent).toFixed(1)}`);
      prev = w.canaryPercent;
    }
    pts.push(`${x(data.end).toFixed(1)},${yW(prev!).toFixed(1)}`);
    const area = `${x(data.weights[0]!.t).toFixed(1)},${wBottom} ${pts.join(" ")} ${x(data.end).toFixed(1)},${wBottom}`;
    out.push(`<polygon points="${area}" fill="${COLOR.weight}" fill-opacity="0.12"/>`);
    out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${COLOR.weight}" stroke-width="2.5" stroke-linejoin="round"/>`);
  }
  out.push(legend(wTop + 4, [{ color: COLOR.weight, label: "canary weight" }]));

  // Gate panels.
  data.gates.forEach((g, i) => {
    const top = gatesTop + i * (GATE_H + PANEL_GAP);
    out.push(...gatePanel(g, top, x, ticks, data.start));
  });

  // Decision markers across every panel, numbered to match the list below.
  marked.forEach((d, i) => {
    const px = x(d.t).toFixed(1);
    const color = ACTION_COLOR[d.action] ?? "#495057";
    out.push(`<line x1="${px}" x2="${px}" y1="${wTop}" y2="${chartBottom - PANEL_GAP + 0}" stroke="${color}" stroke-width="1.2" stroke-dasharray="4 3" opacity="0.75"/>`);
    const cy = wTop + 11;
    out.push(`<circle cx="${px}" cy="${cy}" r="8" fill="${color}"/>`);
    out.push(`<text x="${px}" y="${cy + 3.5}" font-size="9.5" font-weight="700" fill="#fff" text-anchor="middle">${i + 1}</text>`);
  });

  // The decision list.
  out.push(`<text x="${MARGIN.left}" y="${listTop + 14}" font-size="13" font-weight="700">Decisions</text>`);
  marked.forEach((d, i) => {
    const y = listTop + 34 + i * 18;
    const color = ACTION_COLOR[d.action] ?? "#495057";
    out.push(`<circle cx="${MARGIN.left + 7}" cy="${y - 4}" r="7" fill="${color}"/>`);
    out.push(`<text x="${MARGIN.left + 7}" y="${y - 0.5}" font-size="9" font-weight="700" fill="#fff" text-anchor="middle">${i + 1}</text>`);
    out.push(
      `<text x="${MARGIN.left + 22}" y="${y}"><tspan fill="${COLOR.muted}">+${fmtElapsed(d.t - data.start)}</tspan>` +
        `<tspan dx="8" font-weight="700" fill="${color}">${escapeXml(d.action)}</tspan>` +
        `${d.trigger ? `<tspan dx="6" fill="${COLOR.muted}">(${escapeXml(d.trigger)})</tspan>` : ""}` +
        `<tspan dx="8">${escapeXml(truncate(d.reason, 118))}</tspan></text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";

  function panelTitle(text: string, top: number): string {
    return `<text x="${MARGIN.left}" y="${top - 10}" font-size="13" font-weight="700">${escapeXml(text)}</text>`;
  }
  function hline(y: number, color: string): string {
    return `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${color}" stroke-width="1"/>`;
  }
  function legend(top: number, items: Array<{ color: string; label: string; dash?: boolean }>): string {
    const lx = MARGIN.left + PLOT_W + 14;
    return items
      .map(
        (it, k) =>
          `<line x1="${lx}" x2="${lx + 22}" y1="${top + 10 + k * 18}" y2="${top + 10 + k * 18}" stroke="${it.color}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="5 3"` : ""}/>` +
          `<text x="${lx + 28}" y="${top + 14 + k * 18}" fill="${COLOR.text}">${escapeXml(it.label)}</text>`,
      )
      .join("\n");
  }
  function timeAxis(ts: number[], xf: (t: number) => number, bottom: number, origin: number): string {
    return ts
      .map((t) => {
        const px = xf(t).toFixed(1);
        return (
          `<line x1="${px}" x2="${px}" y1="${bottom}" y2="${bottom + 4}" stroke="${COLOR.axis}"/>` +
          `<text x="${px}" y="${bottom + 16}" font-size="10.5" fill="${COLOR.muted}" text-anchor="middle">${fmtElapsed(t - origin)}</text>`
        );
      })
      .join("\n");
  }
  function gatePanel(g: ReportGateSeries, top: number, xf: (t: number) => number, ts: number[], origin: number): string[] {
    const parts: string[] = [];
    const bottom = top + GATE_H;
    parts.push(panelTitle(`Gate ${g.name}: ${g.label ?? (g.unit === "%" ? "event rate (%)" : "latency (ms)")}`, top));
    const values = g.points.flatMap((p) => [p.canary, p.baseline]).filter((v): v is number => v !== null && Number.isFinite(v));
    const max = values.length ? Math.max(...values) : 1;
    const step = niceStep(max > 0 ? max : 1, 4);
    const yMax = Math.max(step, Math.ceil((max * 1.08) / step) * step);
    const y = (v: number) => bottom - (v / yMax) * GATE_H;
    parts.push(`<rect x="${MARGIN.left}" y="${top}" width="${PLOT_W}" height="${GATE_H}" fill="#fcfcfd"/>`);
    for (let v = 0; v <= yMax + step / 2; v += step) {
      parts.push(hline(y(v), v === 0 ? COLOR.axis : COLOR.grid));
      parts.push(`<text x="${MARGIN.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="${COLOR.muted}">${fmtNum(v)}${g.unit === "%" ? " %" : ""}</text>`);
    }
    parts.push(timeAxis(ts, xf, bottom, origin));
    for (const side of ["baseline", "canary"] as const) {
      const color = side === "canary" ? COLOR.canary : COLOR.baseline;
      // Gaps (no data) break the line rather than drawing through zero.
      let run: string[] = [];
      const flush = () => {
        if (run.length > 1) parts.push(`<polyline points="${run.join(" ")}" fill="none" stroke="${color}" stroke-width="${side === "canary" ? 2.2 : 1.8}"${side === "baseline" ? ` stroke-dasharray="6 3"` : ""} stroke-linejoin="round"/>`);
        else if (run.length === 1) {
          const [cx, cy] = run[0]!.split(",");
          parts.push(`<circle cx="${cx}" cy="${cy}" r="2.2" fill="${color}"/>`);
        }
        run = [];
      };
      for (const p of g.points) {
        const v = p[side];
        if (v === null || !Number.isFinite(v)) flush();
        else run.push(`${xf(p.t + 30_000).toFixed(1)},${y(v).toFixed(1)}`);
      }
      flush();
    }
    parts.push(legend(top + 4, [
      { color: COLOR.canary, label: "canary" },
      { color: COLOR.baseline, label: "baseline", dash: true },
    ]));
    return parts;
  }
}

/** Decisions the report marks, in order (exported for tests and the text summary). */
export function markedDecisions(decisions: ReportDecision[]): ReportDecision[] {
  return decisions.filter((d) => MARKED_ACTIONS.has(d.action));
}
