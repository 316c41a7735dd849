import type { RESTPutAPIApplicationCommandsJSONBody } from 'discord-api-types/v10';

/**
 * The `/rollout` slash command: one definition that both the interaction parser (which options exist, which are
 * required, how long text may be) and the registration script (`npm run discord:register`) read, so what Discord
 * offers and what the endpoint accepts cannot drift apart.
 */

/** The one top-level command Phasegate registers. */
export const ROLLOUT_COMMAND = 'rollout';

/** The `/rollout` subcommands. */
export const SUBCOMMANDS = ['status', 'start', 'approve', 'reject', 'pause', 'resume', 'rollback', 'budget', 'verify'] as const;

/** One of {@link SUBCOMMANDS}. */
export type Subcommand = (typeof SUBCOMMANDS)[number];

/** Names of the options a subcommand can take. */
export type OptionName = 'feature' | 'note' | 'reason' | 'set_cap_usd' | 'sub_feature';

/** Longest free text (a note or a reason) accepted: it goes into the audit trail and the Step Functions cause. */
export const MAX_TEXT_LENGTH = 500;

/** One option of a subcommand: the feature (autocompleted from the stage's plans) or free text. */
export interface OptionSpec {
  readonly name: OptionName;
  readonly description: string;
  readonly required: boolean;
}

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
    options: [feature(true), { name: 'note', description: 'Why, for the audit trail', required: false }],
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
  rollback: {
    description: 'Roll a feature back to its safe flags now (on-call or admin)',
    options: [feature(true), { name: 'reason', description: 'Why the feature is rolled back', required: true }],
  },
  budget: {
    description: "A feature's LLM spend today against its budget; admins may change today's cap",
    options: [
      feature(true),
      { name: 'set_cap_usd', description: "Admins: today's new cap in US dollars (up to the hard limit)", required: false },
      { name: 'reason', description: 'Why the cap changes (required with set_cap_usd)', required: false },
      { name: 'sub_feature', description: 'Which LLM sub-feature (default: the first)', required: false },
    ],
  },
  verify: {
    description: "Whether each target serves the feature's flags: expected vs actual, drift, who changed it last",
    options: [feature(true)],
  },
};

/** Discord's application command option types used here. */
const OPTION_TYPE = { subcommand: 1, string: 3 } as const;

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
        options: SUBCOMMAND_SPECS[name].options.map((option) =>
          option.name === 'feature'
            ? { type: OPTION_TYPE.string, name: option.name, description: option.description, required: option.required, autocomplete: true }
            : {
                type: OPTION_TYPE.string,
                name: option.name,
                description: option.description,
                required: option.required,
                max_length: MAX_TEXT_LENGTH,
              },
        ),
      })),
    },
  ];
}
