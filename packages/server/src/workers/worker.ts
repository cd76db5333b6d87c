// The contract every background loop meets, at the bottom of the import graph: the
// composition root starts and stops workers through it, and no worker imports main.ts.

/** Background work run by the `worker` and `all` roles. */
export interface Worker {
  readonly name: string;
  start(): void;
  /** Resolves once the step in progress, if any, has finished. */
  stop(): Promise<void>;
}
