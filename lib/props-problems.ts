/**
 * Props validation shared by the constructs: each constructor collects every problem with its props first, then
 * throws one error that lists them all, so a bad configuration is fixed in one round.
 */

/** Thrown by a construct whose props are invalid; `problems` lists each as `prop: what is wrong`. */
export class InvalidPropsError extends Error {
  constructor(
    /** What was being built, e.g. `RolloutStateMachine phasegate-dev/UxUpdate`. */
    readonly subject: string,
    /** Every problem found, each as `prop: what is wrong`. */
    readonly problems: readonly string[],
  ) {
    super(`${subject} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidPropsError';
  }
}

/** Throw an {@link InvalidPropsError} when `problems` is not empty. */
export function throwIfProblems(subject: string, problems: readonly string[]): void {
  if (problems.length > 0) throw new InvalidPropsError(subject, problems);
}
