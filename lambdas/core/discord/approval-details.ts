import { approvalDeadline } from '../rollout/approval-deadline';
import { dashboardName } from '../gates/alarm-names';
import type { Plan } from '../plan/schema';
import type { ApprovalRequestView } from './messages';

/**
 * What an approval request says beyond the phase and its approvers, worked out from the plan the execution runs:
 * what approving starts, by when, whom to mention, and where to look. Pure.
 */

/** How a stage's approval requests are posted. */
export interface ApprovalPostingOptions {
  readonly stage: string;
  /** AWS region of the stack, for the console links; none: no links. */
  readonly region?: string;
  /** Mention (and ping) the Discord roles that hold the approver roles: the stage opted in. @default false */
  readonly mentionApprovers?: boolean;
}

/** The AWS console page of a CloudWatch dashboard. */
export function dashboardConsoleUrl(region: string, dashboard: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${encodeURIComponent(dashboard)}`;
}

/** The AWS console page of a Step Functions execution. */
export function executionConsoleUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${encodeURIComponent(executionArn)}`;
}

/** The details of the approval request of `phaseIndex`, requested at `requestedAt`. */
export function approvalRequestDetails(
  plan: Plan,
  request: { readonly phaseIndex: number; readonly executionId: string; readonly requestedAt: string },
  options: ApprovalPostingOptions,
): Pick<ApprovalRequestView, 'next' | 'deadline' | 'mentionRoleIds' | 'links'> {
  const phase = plan.phases[request.phaseIndex];
  if (!phase) return {};
  const next = plan.phases[request.phaseIndex + 1];
  const approvers = new Set<string>(phase.approval.approvers);
  const mentionRoleIds = options.mentionApprovers
    ? Object.entries(plan.discord.roles)
        .filter(([, roles]) => roles.some((role) => approvers.has(role)))
        .map(([id]) => id)
    : [];
  const region = options.region;
  return {
    next: next ? { phase: next.name, roles: next.roles, percent: next.percent } : null,
    deadline: approvalDeadline(phase, request.requestedAt),
    ...(mentionRoleIds.length ? { mentionRoleIds } : {}),
    ...(region
      ? {
          links: {
            dashboard: dashboardConsoleUrl(region, dashboardName(options.stage, plan.feature)),
            ...(request.executionId.startsWith('arn:') ? { execution: executionConsoleUrl(region, request.executionId) } : {}),
          },
        }
      : {}),
  };
}
