/**
 * The Phasegate CDK app: `cdk synth -c stage=<name>` builds the stack of one stage from the plans in
 * `rollouts/`. A configuration or plan problem prints its message (every plan problem with its field path)
 * and exits 1, without a stack trace.
 */
import { PlansInvalidError } from '../lambdas/core/plan/load';
import { AppConfigError, buildApp } from '../lib/app';
import { InvalidPropsError } from '../lib/props-problems';

try {
  buildApp().app.synth();
} catch (err) {
  // Plans that pass the validator can still not fit the stack (state machine name too long, a rollout longer
  // than an execution may run): those come from the constructs' own checks, and are plan problems too.
  if (err instanceof AppConfigError || err instanceof PlansInvalidError || err instanceof InvalidPropsError) {
    process.stderr.write(`phasegate: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
