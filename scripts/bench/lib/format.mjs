// Units, the aligned text table and the machine description.

import os from 'node:os';

const group = (n, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const units = {
  perSecond: (name) => ({
    name,
    text(v) {
      if (v >= 1e6) return `${group(v / 1e6, 2)} M ${name}/s`;
      if (v >= 1e4) return `${group(v / 1e3, 0)} k ${name}/s`;
      if (v >= 1e3) return `${group(v / 1e3, 1)} k ${name}/s`;
      return `${group(v, 0)} ${name}/s`;
    },
    higherIsBetter: true,
  }),
  bytes: {
    name: 'bytes',
    text(v) {
      if (Math.abs(v) >= 1024 * 1024) return `${group(v / (1024 * 1024), 1)} MiB`;
      if (Math.abs(v) >= 1024) return `${group(v / 1024, 1)} KiB`;
      return `${group(v, 0)} B`;
    },
    higherIsBetter: false,
  },
  ms: {
    name: 'ms',
    text: (v) => `${group(v, v >= 100 ? 0 : 1)} ms`,
    higherIsBetter: false,
  },
  seconds: {
    name: 's',
    text: (v) => `${group(v, 1)} s`,
    higherIsBetter: false,
  },
  count: (name) => ({
    name,
    text: (v) => `${group(v, 0)} ${name}`,
    higherIsBetter: false,
  }),
};

export function ratioText(r) {
  if (r === undefined || !Number.isFinite(r)) return '—';
  return r >= 10 ? `${group(r, 0)}×` : `${group(r, 2)}×`;
}

/** Rows of cells → aligned text; `align` per column: 'l' or 'r'. */
export function table(header, rows, align) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const cell = (text, c) => (align[c] === 'r' ? text.padStart(widths[c]) : text.padEnd(widths[c]));
  const line = (cells) => cells.map((t, c) => cell(t ?? '', c)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map((r) => (r.section ? r.section : line(r)))].join('\n');
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cpuCount: cpus.length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}
