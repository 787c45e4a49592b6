import type { ProvisionStep } from "./schedule.ts";

/** The testbed's component names; DESIGN section 7 fixes them for `npm run testbed -- up [component…]`. */
export const componentNames = [
  "kube",
  "kwok",
  "helm",
  "kafka",
  "redis",
  "model",
  "local-nodes",
  "chart-tools",
  "browser",
] as const;
export type ComponentName = (typeof componentNames)[number];

/** What the testbed remembers about a started component (persisted in the state dir). */
export interface ComponentState {
  /** Process-group leaders this component started; empty for external or file-only components. */
  pids: number[];
  /** Environment exports that point tests and users at the component. */
  env: Record<string, string>;
  /** True when an override points at something the testbed did not start (and must not stop). */
  external: boolean;
  /** Component-specific details needed to restart on the same ports and data. */
  details: Record<string, unknown>;
}

/** One real component: how to provision it (cached), start it, check it, and stop it. */
export interface Component {
  readonly name: ComponentName;
  /** Components that must be up first (kwok needs kube). */
  readonly requires: readonly ComponentName[];
  /** Env var overrides this component honours, with what each means (for docs and `status`). */
  readonly overrides: Readonly<Record<string, string>>;
  /**
   * The steps that build or fetch what the component needs into the cache (none when all is cached or
   * an override supplies it). The steps of all components run together (schedule.ts); a missing
   * override target is an error right away.
   */
  provisionSteps(): ProvisionStep[];
  /**
   * Starts the component. With `previous`, restarts on the same ports and data (fault tests restart
   * Kafka or Redis mid-stream); without, starts fresh. Resolves once the component is ready.
   */
  start(previous?: ComponentState): Promise<ComponentState>;
  /** Whether the started component answers as it should. */
  isReady(state: ComponentState): Promise<boolean>;
  /** Stops what `start` started, leaving no process behind. */
  stop(state: ComponentState): Promise<void>;
}
