/**
 * A progress bar on stderr: redrawn in place on a terminal; on a pipe or log file, a line at every 10 % instead of
 * a stream of carriage returns.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class ProgressBar {
  private lastDecile = -1;
  private readonly started = performance.now();

  constructor(private readonly stream: ProgressStream = process.stderr) {}

  update(done: number, total: number): void {
    const fraction = total > 0 ? done / total : 1;
    const elapsed = ((performance.now() - this.started) / 1000).toFixed(1);
    const counts = `${done}/${total} (${Math.floor(fraction * 100)}%) ${elapsed}s`;
    if (this.stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${counts}`);
      if (done >= total) this.stream.write('\n');
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`progress: ${counts}\n`);
    }
  }
}
