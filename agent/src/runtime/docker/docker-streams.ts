// PURE decoding of what the Docker engine streams back: the multiplexed stdout/stderr framing of
// logs and exec output, timestamped log lines, and a stats document → ContainerStats.
import type { ContainerStats, LogRecord, OutputStream } from '../observe.js';

/** Longest log line passed on in one piece; longer lines arrive in pieces of this size. */
export const MAX_LOG_LINE_BYTES = 16 * 1024;
/** A frame header announcing more than this is not Docker's framing: the stream is raw. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const HEADER_BYTES = 8;

export interface Frame {
  stream: OutputStream;
  data: Buffer;
}

/**
 * Reassembles Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, big-endian
 * length) from chunks cut anywhere. A stream that turns out not to be framed (a terminal) is
 * passed through as stdout.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private raw = false;

  constructor(multiplexed = true) {
    this.raw = !multiplexed;
  }

  push(chunk: Buffer): Frame[] {
    if (this.raw) return chunk.length > 0 ? [{ stream: 'stdout', data: chunk }] : [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= HEADER_BYTES) {
      const type = this.buf[0]!;
      const length = this.buf.readUInt32BE(4);
      if (type > 2 || this.buf[1] !== 0 || this.buf[2] !== 0 || this.buf[3] !== 0 || length > MAX_FRAME_BYTES) {
        this.raw = true;
        out.push({ stream: 'stdout', data: this.buf });
        this.buf = Buffer.alloc(0);
        return out;
      }
      if (this.buf.length < HEADER_BYTES + length) break;
      const data = this.buf.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.buf = this.buf.subarray(HEADER_BYTES + length);
      if (data.length > 0) out.push({ stream: type === 2 ? 'stderr' : 'stdout', data: Buffer.from(data) });
    }
    return out;
  }
}

const TIMESTAMP_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;

/**
 * Splits one log frame (the engine writes one message per frame, each line prefixed with its
 * RFC 3339 timestamp when asked for timestamps) into records without newlines.
 */
export function logRecords(frame: Frame): LogRecord[] {
  const out: LogRecord[] = [];
  let start = 0;
  const text = frame.data;
  while (start < text.length) {
    let end = text.indexOf(0x0a, start);
    const hasNewline = end >= 0;
    if (!hasNewline) end = text.length;
    let line = text.subarray(start, end);
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    let timestamp = '';
    const space = line.indexOf(0x20);
    if (space > 0 && space <= 40) {
      const candidate = line.subarray(0, space).toString('latin1');
      if (TIMESTAMP_RE.test(candidate)) {
        timestamp = candidate;
        line = line.subarray(space + 1);
      }
    }
    if (line.length === 0) out.push({ stream: frame.stream, timestamp, data: Buffer.alloc(0) });
    for (let i = 0; i < line.length; i += MAX_LOG_LINE_BYTES) {
      out.push({ stream: frame.stream, timestamp, data: Buffer.from(line.subarray(i, i + MAX_LOG_LINE_BYTES)) });
    }
    start = end + 1;
  }
  return out;
}

/** The parts of the engine's stats document that Berth reads (cgroup v1 and v2). */
export interface DockerStatsDoc {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op?: string; value?: number }> | null };
}

/** undefined for the empty document the engine returns for a container that is not running. */
export function parseStats(doc: DockerStatsDoc): ContainerStats | undefined {
  const readAtMs = doc.read && !doc.read.startsWith('0001-') ? Date.parse(doc.read) : NaN;
  if (!Number.isFinite(readAtMs)) return undefined;
  const mem = doc.memory_stats ?? {};
  // Working set as `docker stats` and cAdvisor compute it: inactive file pages can be dropped.
  const inactive = mem.stats?.['total_inactive_file'] ?? mem.stats?.['inactive_file'] ?? 0;
  const usage = mem.usage ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(doc.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of doc.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (e.op ?? '').toLowerCase();
    if (op === 'read') read += e.value ?? 0;
    else if (op === 'write') write += e.value ?? 0;
  }
  return {
    cpuSeconds: (doc.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9,
    memoryBytes: Math.max(0, usage - (inactive < usage ? inactive : 0)),
    memoryLimitBytes: mem.limit ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    readAtMs,
  };
}
