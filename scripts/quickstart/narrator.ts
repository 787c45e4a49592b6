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

/**
 * A narrator writing to `out` (stdout by default) and reading Enter from `input` (stdin). `interrupt`
 * is what Ctrl-C at a pause does: by default the SIGINT the process gets from Ctrl-C anywhere else.
 */
export function createNarrator(options: {
  interactive: boolean;
  out?: NodeJS.WriteStream;
  input?: NodeJS.ReadableStream;
  terminal?: boolean;
  interrupt?: () => void;
}): Narrator {
  const out = options.out ?? process.stdout;
  const interrupt = options.interrupt ?? (() => process.kill(process.pid, "SIGINT"));
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
      const reader = createInterface({
        input: options.input ?? process.stdin,
        output: out,
        ...(options.terminal !== undefined && { terminal: options.terminal }),
      });
      // On a terminal readline reads Ctrl-C as a key, so no SIGINT reaches the process (and the question
      // would fail the run with "Aborted with Ctrl+C", leaving everything up): pass it on as the
      // interrupt, and wait here while the interrupt stops everything.
      let interrupted = false;
      reader.once("SIGINT", () => {
        interrupted = true;
        reader.close();
        interrupt();
      });
      try {
        await reader.question(`\n   ${prompt} — press Enter to continue `);
      } catch (error) {
        if (!interrupted) throw error;
      } finally {
        reader.close();
      }
      if (interrupted) await new Promise<never>(() => undefined);
    },
  };
}
