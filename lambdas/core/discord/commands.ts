import type { RESTPutAPIApplicationCommandsJSONBody } from 'discord-api-types/v10';

/**
 * The `/rollout` slash command: one definition that both the interaction parser (which options exist, which are
 * required, how long text may be) and the registration script (`npm run discord:register`) read, so what Discord
 * offers and what the endpoint accepts cannot drift apart.
 */

/** The one top-level command Phasegate registers. */
export const ROLLOUT_COMMAND = 'rollout';

/** The `/rollout` subcommands. */
export const SUBCOMMANDS = ['status', 'start', 'approve', 'reject', 'pause', 'resume', 'promote', 'rollback', 'retry', 'budget', 'verify', 'history', 'report'] as const;

/** One of {@link SUBCOMMANDS}. */
export type Subcommand = (typeof SUBCOMMANDS)[number];

/** Names of the options a subcommand can take. */
export type OptionName = 'feature' | 'note' | 'reason' | 'set_cap_usd' | 'sub_feature' | 'limit' | 'from' | 'opt_in';

/** Longest free text (a note or a reason) accepted: it goes into the audit trail and the Step Functions cause. */
export const MAX_TEXT_LENGTH = 500;

/**
 * One option of a subcommand: text (free, or autocompleted from a known list: the stage's features, a plan's
 * sub-features or phases) or a number with bounds (Discord refuses a value outside them before it reaches Phasegate).
 */
export interface OptionSpec {
  readonly name: OptionName;
  readonly description: string;
  readonly required: boolean;
  /** @default 'string' */
  readonly type?: 'string' | 'number' | 'integer';
  /** Offer values from a known list as the person types. @default false */
  readonly autocomplete?: boolean;
  /** Bounds of a number. */
  readonly min?: number;
  readonly max?: number;
}

/** The largest daily LLM cap `/rollout budget set_cap_usd` accepts; a plan's hard limit still bounds it. */
export const MAX_CAP_USD = 100_000;

/** How many events `/rollout history` shows at most (and by default). */
export const HISTORY_LIMIT = { max: 25, default: 10 } as const;

/** What a subcommand does and which options it takes. */
export interface SubcommandSpec {
  readonly description: string;
  readonly options: readonly OptionSpec[];
}

const feature = (required: boolean, description = 'The feature (its plan in rollouts/)'): OptionSpec => ({ name: 'feature', description, required });

/** Every subcommand with its options, in the order Discord shows them. */
export const SUBCOMMAND_SPECS: Readonly<Record<Subcommand, SubcommandSpec>> = {
  status: {
    description: 'Where a rollout stands: phase, status, gates, approvals (every feature when none is named)',
    options: [feature(false, 'The feature; leave empty for every feature of this stage')],
  },
  start: { description: 'Start rolling a feature out (pm or admin)', options: [feature(true)] },
  approve: {
    description: 'Approve the phase the feature waits on (its approvers)',
    options: [
      feature(true),
      { name: 'note', description: 'Why, for the audit trail', required: false },
      { name: 'opt_in', description: 'Also run the optional phase that follows (its name); skipped otherwise', required: false, autocomplete: true },
    ],
  },
  reject: {
    description: 'Reject the phase the feature waits on: it rolls back (its approvers)',
    options: [feature(true), { name: 'reason', description: 'Why the phase is rejected', required: true }],
  },
  pause: {
    description: 'Pause a running rollout: gates hold, approvals wait (pm or admin)',
    options: [feature(true), { name: 'reason', description: 'Why, for the audit trail', required: false }],
  },
  resume: { description: 'Resume a paused rollout (pm or admin)', options: [feature(true)] },
  promote: { description: "End the current bake now; the phase's gate still decides (pm or admin)", options: [feature(true)] },
  rollback: {
    description: 'Roll a feature back to its safe flags now (on-call or admin)',
    options: [feature(true), { name: 'reason', description: 'Why the feature is rolled back', required: true }],
  },
  retry: {
    description: 'Start a rolled-back feature again at a phase, not phase 1 (pm or admin)',
    options: [
      feature(true),
      { name: 'from', description: 'The phase to start at (default: the phase it was rolled back in)', required: false, autocomplete: true },
    ],
  },
  budget: {
    description: "A feature's LLM spend today against its budget; admins may change today's cap",
    options: [
      feature(true),
      { name: 'set_cap_usd', description: "Admins: today's new cap in US dollars (up to the hard limit)", required: false, type: 'number', min: 0, max: MAX_CAP_USD },
      { name: 'reason', description: 'Why the cap changes (required with set_cap_usd)', required: false },
      { name: 'sub_feature', description: 'Which LLM sub-feature (default: the first)', required: false, autocomplete: true },
    ],
  },
  verify: {
    description: "Whether each target serves the feature's flags: expected vs actual, drift, who changed it last",
    options: [feature(true)],
  },
  report: {
    description: "Post the feature's phase report now: figures against the bands, the recommendation and a picture",
    options: [feature(true)],
  },
  history: {
    description: "The feature's latest events: phases, gates, decisions, rollbacks, refusals (newest first)",
    options: [
      feature(true),
      { name: 'limit', description: `How many events (1 to ${HISTORY_LIMIT.max}, default ${HISTORY_LIMIT.default})`, required: false, type: 'integer', min: 1, max: HISTORY_LIMIT.max },
    ],
  },
};

/** Discord's application command option types used here. */
const OPTION_TYPE = { subcommand: 1, string: 3, integer: 4, number: 10 } as const;

/**
 * The command definitions to PUT to Discord (bulk overwrite, so registering twice changes nothing). Guild-only:
 * Phasegate refuses direct messages anyway, and role mappings only exist in a server.
 */
export function commandDefinitions(): RESTPutAPIApplicationCommandsJSONBody {
  return [
    {
      name: ROLLOUT_COMMAND,
      description: 'Staged rollouts with Phasegate',
      type: 1,
      contexts: [0],
      integration_types: [0],
      options: SUBCOMMANDS.map((name) => ({
        type: OPTION_TYPE.subcommand,
        name,
        description: SUBCOMMAND_SPECS[name].description,
        options: SUBCOMMAND_SPECS[name].options.map((option) => {
          const common = { name: option.name, description: option.description, required: option.required };
          if (option.type === 'number' || option.type === 'integer') {
            const bounds = { ...(option.min !== undefined ? { min_value: option.min } : {}), ...(option.max !== undefined ? { max_value: option.max } : {}) };
            return option.type === 'number' ? { type: OPTION_TYPE.number, ...common, ...bounds } : { type: OPTION_TYPE.integer, ...common, ...bounds };
          }
          return option.name === 'feature' || option.autocomplete
            ? { type: OPTION_TYPE.string, ...common, autocomplete: true as const }
            : { type: OPTION_TYPE.string, ...common, max_length: MAX_TEXT_LENGTH };
        }),
      })),
    },
  ];
}
