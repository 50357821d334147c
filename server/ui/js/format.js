// Formatting of numbers, sizes, times and durations for display.

const intFmt = new Intl.NumberFormat("en-US");

export function int(n) {
  return n === null || n === undefined ? "—" : intFmt.format(n);
}

export function rate(n) {
  if (n === null || n === undefined) return "—";
  return n >= 100 ? intFmt.format(Math.round(n)) : n.toFixed(1);
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + " " + units[u];
}

// Milliseconds with a sensible precision.
export function ms(v) {
  if (v === null || v === undefined) return "—";
  if (v < 1) return (v * 1000).toFixed(0) + " µs";
  if (v < 100) return v.toFixed(v < 10 ? 2 : 1) + " ms";
  return intFmt.format(Math.round(v)) + " ms";
}

// Unix microseconds as an ISO-8601 UTC time with microseconds.
export function time(micros) {
  if (micros === null || micros === undefined) return "—";
  const d = new Date(Math.floor(micros / 1000));
  const frac = String(((micros % 1e6) + 1e6) % 1e6).padStart(6, "0");
  return d.toISOString().replace(/\.\d{3}Z$/, "." + frac + "Z");
}

// Unix microseconds as "12 s ago".
export function ago(micros) {
  if (!micros) return "—";
  const s = Math.max(0, Math.round(Date.now() / 1000 - micros / 1e6));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
