// What the quickstart prints: numbered acts, one line per finished step, progress bars that redraw in
// place on a terminal (and print at most every 10% when output is a file or a pipe, as in CI), and
// pauses between acts when a person is watching.
import { createInterface } from "node:readline/promises";
import { progressBar } from "../../cli/kubectl-jude/status-text.ts";

export interface Narrator {
  act(title: string): void;
  done(line: string): void;
  detail(line: string): void;
  progress(label: string, done: number, total: number): void;
  /** Waits for Enter when interactive; returns at once otherwise. */
  pause(prompt: string): Promise<void>;
}

/** A narrator writing to `out` (stdout by default). */
export function createNarrator(options: { interactive: boolean; out?: NodeJS.WriteStream }): Narrator {
  const out = options.out ?? process.stdout;
  const tty = out.isTTY === true;
  let acts = 0;
  let lastDecile = -1;
  let inProgress = false;
  const endProgress = (): void => {
    if (inProgress && tty) out.write("\n");
    inProgress = false;
  };
  return {
    act(title) {
      endProgress();
      acts += 1;
      out.write(`\n== ${acts}. ${title}\n`);
    },
    done(line) {
      endProgress();
      out.write(`   ✓ ${line}\n`);
    },
    detail(line) {
      endProgress();
      out.write(`     ${line}\n`);
    },
    progress(label, done, total) {
      const percent = total === 0 ? 100 : (done / total) * 100;
      const line = `   ${label} ${progressBar(percent)} ${done}/${total}`;
      if (tty) {
        out.write(`\r${line}`);
        inProgress = done < total;
        if (!inProgress) out.write("\n");
        return;
      }
      const decile = Math.floor(percent / 10);
      if (decile !== lastDecile || done === total) out.write(`${line}\n`);
      lastDecile = done === total ? -1 : decile;
    },
    async pause(prompt) {
      if (!options.interactive) return;
      endProgress();
      const reader = createInterface({ input: process.stdin, output: out });
      await reader.question(`\n   ${prompt} — press Enter to continue `);
      reader.close();
    },
  };
}
