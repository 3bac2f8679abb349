// Newline-delimited streams (the engine's event stream, a child process's output): chunks cut
// anywhere are joined back into whole lines.

/** A 'data' handler that calls onLine with each whole line (without its newline), in order. */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  };
}

/** A 'data' handler that parses each non-blank line as JSON; a line that is not JSON is skipped. */
export function jsonLines<T>(onValue: (value: T) => void): (chunk: Buffer | string) => void {
  return lineSplitter((line) => {
    const text = line.trim();
    if (!text) return;
    let value: T;
    try {
      value = JSON.parse(text) as T;
    } catch {
      return; // a partial or foreign line
    }
    onValue(value);
  });
}
